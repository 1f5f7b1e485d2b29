"""The experiment registry: every experiment module registers itself here.

An experiment is a module of this package that calls :func:`register` at import time with

- ``name``: the command-line name (``grokking run NAME``);
- ``summary``: one line; ``claim``: the paper's claim it tests, with the figure it reproduces;
- ``quick`` and ``full``: instances of the experiment's frozen dataclass configuration;
- ``run(config) -> xarray.Dataset`` (it may also accept ``checkpoint``, a callable
  ``checkpoint(partial_dataset, status)`` that saves partial results of a long run);
- ``plot(dataset) -> matplotlib Figure``;
- ``statements(dataset) -> list[(statement, verdict, evidence)]``: the paper's claim split into
  atomic statements, each quoted or paraphrased from the paper with its figure, each tested on
  the dataset by the criterion written in the experiment's docstring; the verdict is one of
  ``reproduced``, ``not reproduced``, ``inconclusive`` (``numerics.statistics.VERDICTS``) and
  the evidence gives the numbers behind it;
- ``observations(dataset) -> list[str]``, optional: proxies and further measurements, reported
  beside the verdict and never part of it;
- ``check(dataset) -> (bool, str)``: derived from ``statements`` (true only when every
  statement is reproduced); an experiment without statements may still pass its own;
- ``schema``: the :class:`numerics.schema.Schema` of its dataset (every variable's and
  coordinate's long name, units and dimensions, declared once; ``docs/datasets.md``). The runner
  checks it before the experiment runs and checks the dataset against it after.

The experiment's verdict (:func:`overall`) is ``reproduced`` only when every statement is,
``not reproduced`` when one is not, and ``inconclusive`` otherwise.

Modules keep heavy imports (torch, matplotlib, sympy) inside their functions, so that listing
the registry is fast. Tests iterate over :func:`experiments`, so a new experiment is smoke-tested
(quick configuration) as soon as it registers.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

_NOT_EXPERIMENTS = {"cli", "derive_check", "registry", "runner", "index", "criteria", "figures"}
_REGISTRY: dict[str, "Experiment"] = {}


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    claim: str
    quick: Any
    full: Any
    run: Callable
    plot: Callable
    check: Callable | None = None
    statements: Callable | None = None
    observations: Callable | None = None
    schema: Any = None

    def config(self, label: str):
        """The configuration called ``label`` (``quick`` or ``full``)."""
        if label not in ("quick", "full"):
            raise ValueError(f"configuration label must be 'quick' or 'full', got {label!r}")
        return self.quick if label == "quick" else self.full


def overall(items) -> str:
    """The experiment's verdict from its statements' (see the module docstring)."""
    from grokking_workbench.numerics.statistics import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

    verdicts = [v for _, v, _ in items]
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


def check_from(statements: Callable, observations: Callable | None = None) -> Callable:
    """``check(dataset) -> (bool, str)`` of an experiment with ``statements``."""
    def check(ds) -> tuple[bool, str]:
        items = statements(ds)
        note = " | ".join(f"{s}: {v.upper()} ({e})" for s, v, e in items)
        if observations is not None:
            note += " | observed: " + "; ".join(observations(ds))
        return all(v == "reproduced" for _, v, _ in items) and bool(items), note
    return check


def register(**fields) -> Experiment:
    """Register an experiment (see the module docstring for the fields); returns it."""
    if fields.get("statements") is not None and fields.get("check") is None:
        fields["check"] = check_from(fields["statements"], fields.get("observations"))
    exp = Experiment(**fields)
    if exp.name in _REGISTRY and _REGISTRY[exp.name].run is not exp.run:
        raise ValueError(f"experiment {exp.name!r} is registered twice")
    _REGISTRY[exp.name] = exp
    return exp


def _import_all() -> None:
    from grokking_workbench import experiments as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _NOT_EXPERIMENTS and not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


def experiments() -> dict[str, Experiment]:
    """All registered experiments by name (importing every experiment module once)."""
    _import_all()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Experiment:
    """The experiment called ``name``; KeyError listing the known names otherwise."""
    known = experiments()
    if name not in known:
        raise KeyError(f"no experiment {name!r}; known: {', '.join(known) or 'none'}")
    return known[name]
