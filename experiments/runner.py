"""Run registered experiments: datasets and figures under an output folder, and an index.

``run_one`` writes ``DIR/<label>.nc`` and ``DIR/<label>.png`` (label ``quick`` or ``full``);
``run_all`` runs every experiment into ``ROOT/<name>/`` and writes ``ROOT/index-<label>.md``
(after a full run also ``ROOT/index.md``, the index of what reproduces, ``experiments.index``).
A file of another configuration is never overwritten unless asked, and the output path and the
experiment's dataset schema (:mod:`numerics.schema`) are checked before the experiment runs
(:func:`numerics.io.check_output`), so a refused run costs nothing; the dataset, which the
experiment labels through its schema, is checked against the schema after the run. An interrupt
(Ctrl-C, SIGTERM) keeps what the experiment saved through its ``checkpoint`` (status
``interrupted: ...``); ``run_all`` then stops and writes the index of what ran.
"""

from __future__ import annotations

import inspect
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from grokking_workbench.numerics import io
from grokking_workbench.numerics.validate import InputError
from grokking_workbench.experiments import registry

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    name: str
    label: str
    status: str
    seconds: float
    files: list[Path] = field(default_factory=list)
    claim_ok: bool | None = None
    claim_note: str = ""
    statements: list = field(default_factory=list)


def with_data_dir(config, data_dir: Path | None, name: str):
    """``config`` reading its data from ``data_dir`` (the standard MNIST IDX files, checked before
    anything runs); InputError naming ``--data-dir`` if the experiment reads no data files."""
    if data_dir is None:
        return config
    import dataclasses

    if not dataclasses.is_dataclass(config) or "data_dir" not in {f.name for f in dataclasses.fields(config)}:
        raise InputError("data-dir", f"experiment {name!r} reads no data files")
    from grokking_workbench.numerics.networks.data import check_mnist_dir

    return dataclasses.replace(config, data_dir=str(check_mnist_dir(data_dir, param="data-dir").resolve()))


def save_figure(exp, ds, png: Path) -> Path:
    """Draw ``exp``'s figure of ``ds`` into ``png`` (the settings of every committed figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = exp.plot(ds)
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return png


def redraw(name: str, label: str = "full", out_dir: Path | None = None) -> Path:
    """Redraw the figure of the dataset ``DIR/LABEL.nc`` already written by experiment ``name``
    (default DIR: results/NAME/), with the current plot code; nothing is computed and the dataset
    is not touched. Raises OutputPathError (exit 2) if there is no such dataset."""
    exp = registry.get(name)
    out_dir = Path(out_dir) if out_dir is not None else Path("results") / name
    nc = out_dir / f"{label}.nc"
    if not nc.is_file():
        raise io.OutputPathError("out-dir", nc, "holds no dataset to redraw")
    return save_figure(exp, io.read_dataset(nc), out_dir / f"{label}.png")


def run_one(name: str, label: str = "quick", out_dir: Path | None = None, *,
            overwrite: bool = False, command: str | None = None, data_dir: Path | None = None) -> Outcome:
    """Run experiment ``name`` in configuration ``label``; write its dataset and figure.
    ``data_dir``: read the experiment's data from this folder (:func:`with_data_dir`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = registry.get(name)
    config = with_data_dir(exp.config(label), data_dir, name)
    out_dir = Path(out_dir) if out_dir is not None else Path("results") / name
    nc, png = out_dir / f"{label}.nc", out_dir / f"{label}.png"
    io.check_output(nc, config, overwrite=overwrite, param="out-dir")
    if exp.schema is not None:
        exp.schema.check()
    title = f"{exp.name}: {exp.summary}"
    saved = {}

    def checkpoint(partial, status: str) -> None:
        io.write_dataset(partial, nc, config, title=title, command=command, status=status,
                         overwrite=overwrite)
        saved.update(ds=partial, status=status)

    start = time.perf_counter()
    kwargs = {"checkpoint": checkpoint} if "checkpoint" in inspect.signature(exp.run).parameters else {}
    try:
        ds = exp.run(config, **kwargs)
    except KeyboardInterrupt:
        seconds = time.perf_counter() - start
        if "ds" not in saved:
            return Outcome(name, label, f"interrupted after {seconds:.0f} s (this experiment saves no "
                           "partial results)", seconds)
        status = f"interrupted after {seconds:.0f} s; saved: {saved['status']}"
        io.write_dataset(saved["ds"], nc, config, title=title, command=command, status=status,
                         overwrite=overwrite)
        return Outcome(name, label, status, seconds, [nc])
    ds.attrs["run_seconds"] = round(time.perf_counter() - start, 1)
    status = ds.attrs.get("status", "complete")
    io.write_dataset(ds, nc, config, title=title, command=command, status=status,
                     overwrite=overwrite)
    if exp.schema is not None:
        exp.schema.check_dataset(ds)   # after writing: a long run is saved even if it fails
    try:
        save_figure(exp, ds, png)
    except KeyboardInterrupt:
        seconds = time.perf_counter() - start
        return Outcome(name, label, "interrupted while plotting (the dataset is complete)", seconds, [nc])
    outcome = Outcome(name, label, status, time.perf_counter() - start, [nc, png])
    if exp.check is not None:
        outcome.claim_ok, outcome.claim_note = exp.check(ds)
    if exp.statements is not None:
        outcome.statements = [(s, v, e) for s, v, e in exp.statements(ds)]
    return outcome


def run_all(label: str = "quick", root: Path = Path("results"), *, overwrite: bool = False,
            command: str | None = None, extra: list[Outcome] | None = None,
            report=None) -> tuple[list[Outcome], Path]:
    """Run every registered experiment; write ``root/index-<label>.md``; return outcomes and index.

    ``report(line)`` (e.g. ``print``) is told when each experiment starts and how it ended (time,
    status, whether the claim held). An interrupted experiment ends the run; the index lists what ran.
    """
    report = report or (lambda line: None)
    outcomes = list(extra or [])
    for o in outcomes:
        report(_line(o))
    names = list(registry.experiments())
    for k, name in enumerate(names, 1):
        log.info("running %s (%s)", name, label)
        report(f"[{k}/{len(names)}] {name} ({label}) ...")
        start = time.perf_counter()
        try:
            outcome = run_one(name, label, root / name, overwrite=overwrite, command=command)
        except KeyboardInterrupt:
            outcome = Outcome(name, label, "interrupted", time.perf_counter() - start)
        except Exception as exc:  # one failing experiment must not lose the others
            log.error("%s failed:\n%s", name, traceback.format_exc())
            outcome = Outcome(name, label, f"failed: {type(exc).__name__}: {exc}",
                              time.perf_counter() - start)
        outcomes.append(outcome)
        report(_line(outcome))
        if outcome.status.startswith("interrupted"):
            break
    index = root / f"index-{label}.md"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(format_index(outcomes, label, root))
    if label == "full":
        from grokking_workbench.experiments import index as full_index

        full_index.write(root)
    return outcomes, index


def _line(o: Outcome) -> str:
    claim = "" if o.claim_ok is None else f"; claim holds: {'yes' if o.claim_ok else 'no'}"
    return f"      {o.name}: {o.status} in {o.seconds:.1f} s{claim}"


def format_index(outcomes: list[Outcome], label: str, root: Path) -> str:
    """Markdown table of outcomes: experiment, status, claim check, wall time, files."""
    exps = registry.experiments()
    lines = [f"# Results index ({label} configurations)", "",
             f"Written by `grokking run all{' --quick' if label == 'quick' else ''}`; "
             f"source git {io.git_commit()}.", "",
             "| experiment | status | claim holds | seconds | files | claim |",
             "| --- | --- | --- | --- | --- | --- |"]
    for o in outcomes:
        if o.statements:
            o.claim_note = "; ".join(f"[{v}] {s}" for s, v, _ in o.statements)
        files = ", ".join(f"`{p.relative_to(root) if p.is_relative_to(root) else p}`" for p in o.files)
        ok = "" if o.claim_ok is None else ("yes" if o.claim_ok else "**no**")
        claim = exps[o.name].claim if o.name in exps else o.claim_note
        note = f" ({o.claim_note})" if o.claim_note and o.name in exps else ""
        cells = (o.name, o.status, f"{ok}{note}", f"{o.seconds:.1f}", files, claim)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
