"""The statistical rules on known inputs, the verdicts on the committed full results, the index."""

import math
from pathlib import Path

import numpy as np
import pytest

from grokking_workbench.experiments import criteria, index, registry
from grokking_workbench.numerics import statistics as st

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted(n for n in registry.experiments() if (ROOT / "results" / n / "full.nc").exists())


def test_mean_se_uses_ddof_1():
    x = [1.0, 2.0, 4.0]
    m, se = st.mean_se(x)
    var = ((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2
    assert m == pytest.approx(7 / 3) and se == pytest.approx(math.sqrt(var / 3))


def test_bonferroni_z():
    assert st.bonferroni_z(1) == pytest.approx(1.95996, abs=1e-4)
    assert st.bonferroni_z(10) > st.bonferroni_z(1)


def test_paired_difference_removes_shared_variance():
    a = np.array([1.0, 5.0, 9.0, 13.0])
    d, se = st.paired_difference(a, a + np.array([1.0, 1.1, 0.9, 1.0]))
    assert d == pytest.approx(1.0) and se < 0.05


def test_trend_test_perfect_monotone_n8():
    r = st.trend_test(np.arange(8), np.arange(8) ** 2)
    assert r["rho"] == pytest.approx(1.0) and r["p"] < 0.05 and r["p"] == pytest.approx(1 / math.factorial(8))
    assert st.trend_test(np.arange(8), -np.arange(8.0))["p"] > 0.95


def test_trend_test_noise_is_not_a_trend():
    rng = np.random.default_rng(3)
    ps = [st.trend_test(np.repeat(np.arange(4), 5), rng.normal(size=20), n_perm=2000, seed=k)["p"]
          for k in range(40)]
    assert np.mean(np.array(ps) < 0.05) < 0.2


def test_monotone_verdicts():
    x = [1, 2, 3, 4]
    rng = np.random.default_rng(0)
    up = [k + 0.1 * rng.normal(size=6) for k in range(4)]
    assert st.monotone(x, up)["verdict"] == st.REPRODUCED
    assert st.monotone(x, up, increasing=False)["verdict"] == st.NOT_REPRODUCED
    flat = [rng.normal(size=3) for _ in range(4)]
    assert st.monotone(x, flat)["verdict"] != st.REPRODUCED or st.monotone(x, flat)["p"] < 0.05


def test_agreement_includes_theory_error():
    a = st.agreement([1.0, 2.0], [0.1, 0.1], [1.5, 2.0])
    assert not a["agree"] and a["worst"] == pytest.approx(5.0)
    assert st.agreement([1.0, 2.0], [0.1, 0.1], [1.5, 2.0], [1.0, 1.0])["agree"]


def test_crossing_bootstrap():
    t = np.linspace(0, 10, 101)
    curves = np.stack([np.exp(-t / s) for s in (1.9, 2.0, 2.1, 2.0)])
    r = st.crossing_bootstrap(t, curves, 0.25, level_is_fraction=True)
    assert r["low"] <= r["time"] <= r["high"] and r["time"] == pytest.approx(2 * math.log(4), rel=0.02)


def test_overall_verdict():
    assert registry.overall([("a", st.REPRODUCED, ""), ("b", st.REPRODUCED, "")]) == st.REPRODUCED
    assert registry.overall([("a", st.REPRODUCED, ""), ("b", st.INCONCLUSIVE, "")]) == st.INCONCLUSIVE
    assert registry.overall([("a", st.NOT_REPRODUCED, ""), ("b", st.INCONCLUSIVE, "")]) == st.NOT_REPRODUCED
    assert registry.overall([]) == st.INCONCLUSIVE


@pytest.mark.parametrize("name", registry.experiments())
def test_every_experiment_has_statements(name):
    assert registry.get(name).statements is not None


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_result_yields_statements(name):
    import xarray as xr

    exp = registry.get(name)
    with xr.open_dataset(ROOT / "results" / name / "full.nc", engine="h5netcdf") as ds:
        items = exp.statements(ds.load())
    assert items
    for statement, verdict, evidence in items:
        assert statement and evidence and verdict in st.VERDICTS


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_result_follows_its_schema(name):
    """Every committed full result has the variables, long names, units and dimensions its
    experiment declares (numerics.schema)."""
    from grokking_workbench.numerics import io

    exp = registry.get(name)
    ds = io.read_dataset(ROOT / "results" / name / "full.nc")
    exp.schema.check_dataset(ds)
    for var, entry in exp.schema.items():
        if var in ds.variables and not callable(entry.long_name) and "{" not in entry.long_name:
            assert ds[var].attrs.get("units") == entry.units, var


def test_criteria_changes_name_experiments_with_old_verdicts():
    known = registry.experiments()
    for name, changes in criteria.CHANGES.items():
        assert name in known
        for ch in changes:
            assert ch.date and ch.reason and ch.old_verdict in st.VERDICTS


def test_index_is_current():
    """results/index.md is what the committed datasets give (regenerate with
    python -m grokking_workbench.experiments.index)."""
    text = index.format_index(index.entries(ROOT / "results"))
    assert (ROOT / "results" / "index.md").read_text() == text


def test_unfinished_run_is_never_reproduced():
    import xarray as xr

    exp = registry.get("gap-formula")
    with xr.open_dataset(ROOT / "results" / "gap-formula" / "full.nc", engine="h5netcdf") as ds:
        ds = ds.load()
    ds.attrs["status"] = "diverged: non-finite statistics at t = 3"
    e = index.entry(exp, ds)
    assert e.status.startswith("diverged") and e.verdict != st.REPRODUCED


def test_median_interval_covers_and_handles_censoring():
    """The order-statistic interval covers the median at >= 95 % (Gaussian samples of 16), is
    unbounded with too few values, and orders never-reached (+inf) runs last."""
    rng = np.random.default_rng(1)
    cover = np.mean([lo <= 0 <= hi for lo, hi in
                     (st.median_interval(rng.normal(size=16))[1:] for _ in range(2000))])
    assert cover >= 0.95
    assert st.median_interval([1, 2, 3, 4, 5])[1:] == (-np.inf, np.inf)
    med, lo, hi = st.median_interval([1, 2, 3, 4, 5, 6, 7, np.inf, np.inf])
    assert (med, lo, hi) == (5.0, 2.0, np.inf)
