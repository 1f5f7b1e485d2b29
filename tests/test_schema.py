"""Dataset schemas (numerics.schema): declarations are checked, datasets are labelled by them and
checked against them, every registered experiment declares one, and the runner enforces it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import xarray as xr

from grokking_workbench.experiments import registry, runner
from grokking_workbench.numerics.schema import Schema, SchemaError, Var


@dataclass(frozen=True)
class Cfg:
    steps: int = 30
    delta: float = 0.1


SCHEMA = Schema({
    "t": Var("time", "1", ("t",)),
    "loss": Var("loss after {steps} steps (delta = {delta})", "1", ("t", "seed")),
    "extra": Var(lambda c: f"extra of a run of {c.steps} steps", "1", ("t",), required=False),
}, dims=("seed",))


def _dataset():
    return xr.Dataset({"loss": (("t", "seed"), np.zeros((3, 2)))}, coords={"t": ("t", np.arange(3.0))})


def test_apply_writes_long_names_and_units_from_the_configuration():
    ds = SCHEMA.check().apply(_dataset(), Cfg())
    assert ds.loss.attrs == {"long_name": "loss after 30 steps (delta = 0.1)", "units": "1"}
    assert ds.t.attrs == {"long_name": "time", "units": "1"}
    assert SCHEMA.attrs("extra", Cfg(steps=5))["long_name"] == "extra of a run of 5 steps"
    SCHEMA.check_dataset(ds)


@pytest.mark.parametrize("entry, problem", [
    (Var("", "1", ("t",)), "empty long_name"),
    (Var("a", "", ("t",)), "empty units"),
    (Var("a", "1", ("nowhere",)), "unknown dimension"),
])
def test_a_malformed_declaration_is_refused(entry, problem):
    with pytest.raises(SchemaError, match=problem):
        (SCHEMA | Schema({"bad": entry})).check()


def test_a_dataset_off_its_schema_is_refused():
    ds = _dataset()
    ds["undeclared"] = ("t", np.zeros(3))
    with pytest.raises(SchemaError, match="undeclared: not declared"):
        SCHEMA.check_dataset(ds)
    with pytest.raises(SchemaError, match="loss: missing"):
        SCHEMA.check_dataset(_dataset().drop_vars("loss"))
    with pytest.raises(SchemaError, match="loss: dimensions"):
        SCHEMA.check_dataset(_dataset().transpose("seed", "t"))


@pytest.mark.parametrize("name", sorted(registry.experiments()))
def test_every_experiment_declares_a_well_formed_schema(name):
    schema = registry.get(name).schema
    assert isinstance(schema, Schema) and schema, f"{name} registers no schema"
    schema.check()


def test_the_runner_refuses_an_experiment_whose_schema_is_malformed(tmp_path, monkeypatch):
    calls = []

    def run(config):
        calls.append(config)
        return _dataset()

    exp = registry.Experiment(name="schema-probe", summary="s", claim="c", quick=Cfg(), full=Cfg(5),
                              run=run, plot=lambda ds: None,
                              schema=SCHEMA | Schema({"bad": Var("b", "1", ("nowhere",))}))
    monkeypatch.setitem(registry._REGISTRY, exp.name, exp)
    with pytest.raises(SchemaError):
        runner.run_one(exp.name, "quick", tmp_path)
    assert not calls, "the experiment ran although its schema is malformed"


def test_the_runner_checks_the_dataset_against_the_schema(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from grokking_workbench.numerics import io

    def run(config):
        return SCHEMA.apply(_dataset(), config)

    exp = registry.Experiment(name="schema-probe", summary="s", claim="c", quick=Cfg(), full=Cfg(5),
                              run=run, plot=lambda ds: plt.figure(), schema=SCHEMA)
    monkeypatch.setitem(registry._REGISTRY, exp.name, exp)
    outcome = runner.run_one(exp.name, "quick", tmp_path)
    assert outcome.status == "complete"
    ds = io.read_dataset(outcome.files[0])
    assert ds.loss.attrs["long_name"] == "loss after 30 steps (delta = 0.1)"

    def run_more(config):
        ds = run(config)
        ds["undeclared"] = ("t", np.zeros(3), {"long_name": "u", "units": "1"})
        return ds

    monkeypatch.setitem(registry._REGISTRY, exp.name, registry.Experiment(
        **{**exp.__dict__, "run": run_more}))
    with pytest.raises(SchemaError, match="undeclared"):
        runner.run_one(exp.name, "quick", tmp_path / "more")


def test_the_commands_write_datasets_that_follow_their_schemas():
    from grokking_workbench.numerics import ode
    from grokking_workbench.numerics.dmft import solver
    from grokking_workbench.numerics.simulate import committee

    ode.SCHEMA.check_dataset(ode.integrate([0.04, -0.02], np.eye(2), 0.5, 0.05, 10.0, records=5))
    cfg = committee.CommitteeConfig(N=2, D=10, gamma=2.0, alpha=(0.5, 1.0), seeds=2, t_max=0.5, dt=0.1,
                                    records=3, held_out=5)
    ds = committee.simulate(cfg)
    committee.SCHEMA.check_dataset(ds)
    assert ds.held_out_loss.attrs["long_name"] == "loss on 5 held-out points per seed"
    sol = solver.solve(solver.DMFTConfig(A0=(0.04, -0.02), t_max=1.0, dt=0.25, growth=0.0, samples=40,
                                         replicas=2))
    solver.SCHEMA.check_dataset(solver.to_dataset(sol))
