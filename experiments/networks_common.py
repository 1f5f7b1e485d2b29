"""Shared pieces of the network experiments (``numerics.networks``): datasets of training records,
claims split into atomic statements with verdicts, and learning-curve figures.

A claim is checked statement by statement; each statement gets a verdict, ``reproduced``,
``not reproduced`` or ``inconclusive`` (the data cannot decide: e.g. a run that never reaches
the level that defines the quantity), and the check is ok only when every statement is
reproduced. The message lists every statement with its verdict and the numbers behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.numerics.schema import Schema, Var

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"

LONG = {
    "train_loss": "training loss of the (centred) predictor",
    "test_loss": "test loss of the (centred) predictor",
    "train_accuracy": "training accuracy",
    "test_accuracy": "test accuracy",
    "param_norm": "parameter norm |theta| (all parameters)",
    "relative_change": "relative parameter change |theta - theta_0| / |theta_0|",
}


GRID = ("init_scale", "alpha", "seed")   # the members' grid dimensions (to_dataset)
# The variables and coordinates of a dataset of training records (to_dataset): what the trainer
# records and the grid; dimensions depend on the grid and are not declared
NETWORKS_SCHEMA = Schema({
    "step": Var("optimiser steps", "1", ("step",)),
    **{name: Var(name.replace("_", " "), "1", (name,), required=name == "seed") for name in GRID},
    **{name: Var(text, "1", None, required=False) for name, text in LONG.items()},
})


@dataclass
class Statement:
    text: str
    verdict: str
    numbers: str

    def line(self) -> str:
        return f"[{self.verdict}] {self.text}: {self.numbers}"


def verdict(ok, inconclusive: bool = False) -> str:
    if inconclusive:
        return INCONCLUSIVE
    return REPRODUCED if ok else NOT_REPRODUCED


def rising(values) -> str:
    """Verdict on "rises with the swept parameter" for delays where NaN (never within the run)
    counts as infinite; inconclusive when two neighbouring values are both NaN (their order is
    not known) and no determined pair already contradicts the rise."""
    from grokking_workbench.experiments._wide_curves import rises

    v = np.asarray(values, float)
    both = np.isnan(v[1:]) & np.isnan(v[:-1])
    return verdict(rises(v), inconclusive=bool(both.any()) and rises(v))


def as_tuples(statements: list[Statement]) -> list[tuple[str, str, str]]:
    """(statement, verdict, evidence) triples for the experiment registry."""
    return [(s.text, s.verdict, s.numbers) for s in statements]


def report(statements: list[Statement]) -> tuple[bool, str]:
    ok = all(s.verdict == REPRODUCED for s in statements)
    return ok, "; ".join(f"S{n + 1} " + s.line() for n, s in enumerate(statements))


def first_at_least(steps, curve, level) -> float:
    """First step where ``curve`` >= ``level`` (linear interpolation between records), or NaN."""
    from grokking_workbench.experiments._wide_curves import crossing_time

    return crossing_time(np.asarray(steps, float), -np.asarray(curve, float), -level)


def first_at_most(steps, curve, level) -> float:
    from grokking_workbench.experiments._wide_curves import crossing_time

    return crossing_time(np.asarray(steps, float), np.asarray(curve, float), level)


def to_dataset(result: dict, grid: dict, *, schema: Schema = NETWORKS_SCHEMA, attrs=None):
    """xarray Dataset of :func:`numerics.networks.train.train`'s ``result``: the members are the
    outer product of ``grid`` (ordered dict name -> values; the last one varies fastest, usually
    ``seed``) and every recorded (M, T, ...) array becomes (grid dims..., step, ...), labelled by
    ``schema`` (:data:`NETWORKS_SCHEMA` and what the experiment records beside it)."""
    import xarray as xr

    lead = tuple(len(v) for v in grid.values())
    data_vars = {}
    for name, arr in result.items():
        if name in ("steps", "status", "trainer") or not isinstance(arr, np.ndarray):
            continue
        x = arr.reshape(lead + arr.shape[1:])
        dims = tuple(grid) + ("step",) + tuple(f"{name}_{i}" for i in range(x.ndim - len(lead) - 1))
        data_vars[name] = (dims, x)
    coords = {"step": ("step", result["steps"])}
    for name, values in grid.items():
        coords[name] = (name, np.asarray(values))
    ds = schema.apply(xr.Dataset(data_vars, coords=coords))
    ds.attrs.update(attrs or {})
    ds.attrs["status"] = result["status"]
    return ds


def merge_status(*datasets) -> str:
    bad = [d.attrs["status"] for d in datasets if d.attrs.get("status", "complete") != "complete"]
    return "; ".join(bad) if bad else "complete"


_PANEL_LABELS = {"accuracy": "accuracy", "loss": "loss",
                 "param_norm": "parameter norm |theta|",
                 "relative_change": "|theta - theta_0| / |theta_0|",
                 "effective_dimension": "effective dimension"}


def seed_note(ds) -> str:
    """How the curves summarise the seeds: a mean over n of them, or a single one."""
    n = ds.sizes.get("seed", 1)
    return f"mean over {n} seeds" if n > 1 else "one seed"


def plot_curves(ds, by: str | None, *, metrics=("accuracy", "loss"), extra=(), title="",
                cmap="viridis", label_fmt="{name} = {value:g}"):
    """Panels of train (dashed) and test (solid) curves against steps (log axis), seed mean,
    one colour per value of ``by`` (a colour bar when there are 4 or more values, otherwise a
    legend naming each), then one panel per variable in ``extra``; ``title`` above the panels
    and the line styles named once below them."""
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    panels = list(metrics) + list(extra)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels) + 1.2, 4.0), squeeze=False,
                             layout="constrained")
    axes = list(axes[0])
    values = list(ds[by].values) if by else [None]
    steps = ds.step.values
    keep = steps > 0
    if by and len(values) >= 4:
        key = figures.ValueColours(values, cmap)
        key.bar(fig, axes, by, shrink=0.9)
        colours = [key.colour(v) for v in values]
    else:
        colours = [f"C{n}" for n in range(len(values))]
        if by:
            figures.value_legend(fig, [(label_fmt.format(name=by, value=v), c) for v, c in zip(values, colours)],
                                 loc="outside right upper")
    note = seed_note(ds)
    for v, color in zip(values, colours):
        d = ds.sel({by: v}) if by else ds
        if "seed" in d.dims:
            d = d.mean("seed")
        for ax, m in zip(axes, panels):
            if m in ("accuracy", "loss"):
                for part, style in (("test", figures.TEST), ("train", figures.TRAIN)):
                    name = f"{part}_{m}"
                    if name in d:
                        ax.plot(steps[keep], d[name].values[keep], color=color, **style)
            elif m in d:
                ax.plot(steps[keep], d[m].values[keep], color=color, **figures.TEST)
    for ax, m in zip(axes, panels):
        ax.set(xscale="log", xlabel="optimiser step", ylabel=_PANEL_LABELS.get(m, m))
        long = ds[m].attrs.get("long_name", m) if m in ds else m
        figures.wrapped_title(ax, f"{long} ({note})" if m not in ("accuracy", "loss") else f"train and test {m} ({note})")
        if m == "loss":
            ax.set_yscale("log")
    figures.style_legend(fig, [("test", figures.TEST), ("train", figures.TRAIN)],
                         loc="outside lower center", ncol=2)
    if title:
        fig.suptitle(figures.wrapped(title, int(fig.get_figwidth() * 72 / 5.5)), fontsize=10)
    return fig


def grok_steps(ds, train_level=0.99, test_level=0.9):
    """Steps where the train accuracy first reaches ``train_level`` and the test accuracy
    ``test_level`` over all dims but ``step`` (NaN: never within the run), and their ratio."""
    import xarray as xr

    def first(name, level):
        return xr.apply_ufunc(lambda c: first_at_least(ds.step.values, c, level), ds[name],
                              input_core_dims=[["step"]], vectorize=True)

    tr, te = first("train_accuracy", train_level), first("test_accuracy", test_level)
    return tr, te, te / tr
