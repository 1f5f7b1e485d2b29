"""Every registered experiment: well-formed registration; (slow) its quick configuration runs."""

import dataclasses

import pytest

from experiments import registry, runner

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
def test_quick_configuration_runs_and_its_claim_holds(name, tmp_path):
    outcome = runner.run_one(name, "quick", tmp_path)
    assert outcome.status == "complete"
    assert all(p.exists() for p in outcome.files)
    if outcome.claim_ok is not None:
        assert outcome.claim_ok, outcome.claim_note
