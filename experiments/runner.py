"""Run registered experiments: datasets and figures under an output folder, and an index.

``run_one`` writes ``DIR/<label>.nc`` and ``DIR/<label>.png`` (label ``quick`` or ``full``);
``run_all`` runs every experiment into ``ROOT/<name>/`` and writes ``ROOT/index-<label>.md``
(after a full run also ``ROOT/index.md``, the index of what reproduces, ``experiments.index``).
A file of another configuration is never overwritten unless asked: the check happens before
the experiment runs, so a refused run costs nothing.
"""

from __future__ import annotations

import inspect
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from grokking_workbench.numerics import io
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


def run_one(name: str, label: str = "quick", out_dir: Path | None = None, *,
            overwrite: bool = False, command: str | None = None) -> Outcome:
    """Run experiment ``name`` in configuration ``label``; write its dataset and figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = registry.get(name)
    config = exp.config(label)
    out_dir = Path(out_dir) if out_dir is not None else Path("results") / name
    nc, png = out_dir / f"{label}.nc", out_dir / f"{label}.png"
    old = io.stored_config_hash(nc)
    if old is not None and old != io.config_hash(config) and not overwrite:
        raise io.ConfigMismatchError(
            f"{nc} holds a dataset of another configuration (config_hash {old}); "
            "use --out-dir elsewhere or --overwrite")
    title = f"{exp.name}: {exp.summary}"

    def checkpoint(partial, status: str) -> None:
        io.write_dataset(partial, nc, config, title=title, command=command, status=status,
                         overwrite=overwrite)

    start = time.perf_counter()
    kwargs = {"checkpoint": checkpoint} if "checkpoint" in inspect.signature(exp.run).parameters else {}
    ds = exp.run(config, **kwargs)
    ds.attrs["run_seconds"] = round(time.perf_counter() - start, 1)
    status = ds.attrs.get("status", "complete")
    io.write_dataset(ds, nc, config, title=title, command=command, status=status,
                     overwrite=overwrite)
    fig = exp.plot(ds)
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    outcome = Outcome(name, label, status, time.perf_counter() - start, [nc, png])
    if exp.check is not None:
        outcome.claim_ok, outcome.claim_note = exp.check(ds)
    if exp.statements is not None:
        outcome.statements = [(s, v, e) for s, v, e in exp.statements(ds)]
    return outcome


def run_all(label: str = "quick", root: Path = Path("results"), *, overwrite: bool = False,
            command: str | None = None, extra: list[Outcome] | None = None) -> tuple[list[Outcome], Path]:
    """Run every registered experiment; write ``root/index-<label>.md``; return outcomes and index."""
    outcomes = list(extra or [])
    for name in registry.experiments():
        log.info("running %s (%s)", name, label)
        start = time.perf_counter()
        try:
            outcomes.append(run_one(name, label, root / name, overwrite=overwrite, command=command))
        except Exception as exc:  # one failing experiment must not lose the others
            log.error("%s failed:\n%s", name, traceback.format_exc())
            outcomes.append(Outcome(name, label, f"failed: {type(exc).__name__}: {exc}",
                                    time.perf_counter() - start))
    index = root / f"index-{label}.md"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(format_index(outcomes, label, root))
    if label == "full":
        from grokking_workbench.experiments import index as full_index

        full_index.write(root)
    return outcomes, index


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
