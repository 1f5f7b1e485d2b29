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


def plot_curves(ds, by: str | None, *, metrics=("accuracy", "loss"), extra=(), title="",
                cmap="viridis", label_fmt="{name} = {value:g}"):
    """Panels of train (dashed) and test (solid) curves against steps (log axis), seed mean,
    one colour per value of ``by`` (a colour bar when there are more than 4 values), then one
    panel per variable in ``extra``."""
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    panels = list(metrics) + list(extra)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.8), squeeze=False)
    axes = axes[0]
    values = list(ds[by].values) if by else [None]
    steps = ds.step.values
    keep = steps > 0
    use_bar = len(values) > 4
    if use_bar:
        norm = colors.LogNorm(min(values), max(values)) if min(values) > 0 else colors.Normalize(
            min(values), max(values))
        smap = cm.ScalarMappable(norm=norm, cmap=cmap)
    for n, v in enumerate(values):
        d = ds.sel({by: v}) if by else ds
        if "seed" in d.dims:
            d = d.mean("seed")
        color = smap.to_rgba(v) if use_bar else f"C{n}"
        label = label_fmt.format(name=by, value=v) if by else ""
        for ax, m in zip(axes, panels):
            if m in ("accuracy", "loss"):
                for part, style in (("test", "-"), ("train", "--")):
                    name = f"{part}_{m}"
                    if name in d:
                        ax.plot(steps[keep], d[name].values[keep], style, color=color, lw=1.3,
                                label=f"{label} {part}".strip())
            elif m in d:
                ax.plot(steps[keep], d[m].values[keep], color=color, lw=1.3, label=label or m)
    for ax, m in zip(axes, panels):
        ylabel = m if m in ("accuracy", "loss") else ds[m].attrs.get("long_name", m)
        ax.set(xscale="log", xlabel="optimiser step", ylabel=ylabel[:50])
        if m == "loss":
            ax.set_yscale("log")
        if not use_bar:
            ax.legend(fontsize=6)
    if use_bar:
        fig.colorbar(smap, ax=list(axes), label=by)
        for ax in axes:
            ax.plot([], [], "k-", label="test")
            ax.plot([], [], "k--", label="train")
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    if not use_bar:
        fig.tight_layout()
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
