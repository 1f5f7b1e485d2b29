"""Every registered experiment: well-formed registration; (slow) its quick configuration runs."""

import dataclasses

import pytest

from grokking_workbench.experiments import registry, runner

EXPERIMENTS = sorted(registry.experiments())


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_registration_is_complete(name):
    exp = registry.get(name)
    for label in ("quick", "full"):
        config = exp.config(label)
        assert dataclasses.is_dataclass(config) and type(config).__dataclass_params__.frozen
    assert exp.quick != exp.full, "the quick configuration must be smaller than the full one"
    assert exp.summary and exp.claim
    assert callable(exp.run) and callable(exp.plot)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_configuration_runs(name, tmp_path):
    """The quick configuration completes and writes its dataset and figure. Whether the paper's
    claim holds is a result, recorded by `grokking run all` in the index, not a test outcome."""
    from grokking_workbench.numerics import io
    from grokking_workbench.numerics.statistics import VERDICTS

    outcome = runner.run_one(name, "quick", tmp_path)
    assert outcome.status == "complete"
    assert all(p.exists() for p in outcome.files)
    io.check_schema(io.read_dataset(outcome.files[0]))
    if registry.get(name).statements is not None:
        assert outcome.statements, "an experiment with statements yields at least one"
        for statement, verdict, evidence in outcome.statements:
            assert statement and evidence and verdict in VERDICTS
