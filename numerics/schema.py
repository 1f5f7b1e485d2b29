"""Dataset schemas: each variable's long name, units and dimensions, declared once.

A writer of datasets (an experiment, the ODE, the simulator, the DMFT solver) declares one
:class:`Schema`, a mapping from the names of its variables and coordinates to :class:`Var`
entries, and builds its dataset through it: :meth:`Schema.apply` writes ``long_name`` and
``units`` (docs/datasets.md), so the words are written in one place. A long name that depends on
the configuration is a format string with fields of the configuration (``"RQI after {steps}
steps"``; literal braces doubled, ``"R^{{h*}}"``) or a callable of the configuration.

:meth:`Schema.check` checks the declaration itself (every entry has a long name and units, every
dimension is a declared coordinate or a declared dimension without one); the experiment runner
calls it before an experiment runs. :meth:`Schema.check_dataset` checks a dataset against it:
every variable and coordinate declared, with its declared dimensions, and every required entry
present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from grokking_workbench.numerics.io import SchemaError  # noqa: F401 (raised here for schemas too)


@dataclass(frozen=True)
class Var:
    """A variable or coordinate: long name (text, format string or callable of the
    configuration), units, dimensions (None: not checked) and whether every dataset has it."""

    long_name: str | Callable[[Any], str]
    units: str
    dims: tuple[str, ...] | None = None
    required: bool = True

    def name_for(self, config: Any = None, **fields) -> str:
        """The long name for ``config`` (format fields from the configuration and ``fields``)."""
        if callable(self.long_name):
            return self.long_name(config)
        if "{" not in self.long_name:
            return self.long_name
        if hasattr(config, "__dataclass_fields__"):
            values = {name: getattr(config, name) for name in config.__dataclass_fields__}
        else:
            values = dict(config) if isinstance(config, Mapping) else {}
        return self.long_name.format(**{**values, **fields})

    def on(self, *dims: str, required: bool = True) -> "Var":
        """This variable with dimensions ``dims`` (a writer's variable stored by an experiment)."""
        return Var(self.long_name, self.units, dims, required)

    def attrs(self, config: Any = None, **fields) -> dict[str, str]:
        """``{"long_name": ..., "units": ...}`` for ``config``."""
        return {"long_name": self.name_for(config, **fields), "units": self.units}


class Schema(dict):
    """Variables and coordinates of one kind of dataset, by name; ``dims``: the dimensions that
    have no coordinate variable."""

    def __init__(self, entries: Mapping[str, Var] | None = None, *, dims: tuple[str, ...] = (), **more: Var):
        super().__init__({**(entries or {}), **more})
        self.dims = tuple(dims)

    def __or__(self, other: "Schema") -> "Schema":
        return Schema({**self, **other}, dims=tuple(dict.fromkeys(self.dims + getattr(other, "dims", ()))))

    def take(self, *names: str) -> "Schema":
        """The entries called ``names`` (those declared), with the dimensions without coordinates."""
        return Schema({name: self[name] for name in names if name in self}, dims=self.dims)

    def attrs(self, name: str, config: Any = None, **fields) -> dict[str, str]:
        """The attributes of variable ``name`` for ``config``."""
        return self[name].attrs(config, **fields)

    def apply(self, ds, config: Any = None, **fields):
        """``ds`` with the long name and units of every declared variable and coordinate it has
        (other attributes kept); returns ``ds``."""
        for name, var in ds.variables.items():
            if name in self:
                var.attrs.update(self[name].attrs(config, **fields))
        return ds

    def check(self) -> "Schema":
        """SchemaError unless every entry has a non-empty long name and units and every dimension
        is a declared coordinate or dimension; returns the schema."""
        problems = []
        for name, var in self.items():
            if not isinstance(var, Var):
                problems.append(f"{name}: not a Var")
                continue
            if not callable(var.long_name) and not (isinstance(var.long_name, str) and var.long_name.strip()):
                problems.append(f"{name}: empty long_name")
            if not (isinstance(var.units, str) and var.units.strip()):
                problems.append(f"{name}: empty units")
            for dim in var.dims or ():
                if dim not in self and dim not in self.dims:
                    problems.append(f"{name}: unknown dimension {dim!r}")
        if problems:
            raise SchemaError("schema: " + "; ".join(problems))
        return self

    def check_dataset(self, ds) -> None:
        """SchemaError unless every variable and coordinate of ``ds`` is declared with the
        declared dimensions and every required entry is present."""
        problems = []
        for name, var in ds.variables.items():
            if name not in self:
                problems.append(f"{name}: not declared")
            elif self[name].dims is not None and tuple(var.dims) != tuple(self[name].dims):
                problems.append(f"{name}: dimensions {tuple(var.dims)}, declared {tuple(self[name].dims)}")
        problems += [f"{name}: missing" for name, var in self.items()
                     if var.required and name not in ds.variables]
        if problems:
            raise SchemaError("dataset does not follow its schema: " + "; ".join(problems))
