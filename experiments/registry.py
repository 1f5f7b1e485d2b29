"""The experiment registry: every experiment module registers itself here.

An experiment is a module of this package that calls :func:`register` at import time with

- ``name``: the command-line name (``grokking run NAME``);
- ``summary``: one line; ``claim``: the paper's claim it tests, with the figure it reproduces;
- ``quick`` and ``full``: instances of the experiment's frozen dataclass configuration;
- ``run(config) -> xarray.Dataset`` (it may also accept ``checkpoint``, a callable
  ``checkpoint(partial_dataset, status)`` that saves partial results of a long run);
- ``plot(dataset) -> matplotlib Figure``;
- ``check(dataset) -> (bool, str)``, optional: evaluates the claim on the dataset.

Modules keep heavy imports (torch, matplotlib, sympy) inside their functions, so that listing
the registry is fast. Tests iterate over :func:`experiments`, so a new experiment is smoke-tested
(quick configuration) as soon as it registers.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

_NOT_EXPERIMENTS = {"cli", "derive_check", "registry", "runner"}
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

    def config(self, label: str):
        """The configuration called ``label`` (``quick`` or ``full``)."""
        if label not in ("quick", "full"):
            raise ValueError(f"configuration label must be 'quick' or 'full', got {label!r}")
        return self.quick if label == "quick" else self.full


def register(**fields) -> Experiment:
    """Register an experiment (see the module docstring for the fields); returns it."""
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
