"""The index of what reproduces: one entry per experiment, one verdict per statement.

``python -m grokking_workbench.experiments.index [ROOT]`` rebuilds ``ROOT/index.md`` (default
``results``) from the committed full results ``ROOT/<experiment>/full.nc`` without running
anything, and the summary table of the README between its ``index`` markers; ``grokking run all``
calls :func:`write` after a full run. For every registered experiment it shows the paper's
claim, each statement with its verdict and evidence (the experiment's ``statements``), the
observations beside them, the dataset's status (a diverged or unfinished run is never read as
complete), its run time where the dataset records it, the commit that produced it (``source``),
and the changes of criteria made after the full result was seen, with the verdict under the old
criterion (``experiments.criteria``). An experiment without a committed full result is listed
as such, with the reason where known.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grokking_workbench.experiments import criteria, registry
from grokking_workbench.numerics.statistics import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

NO_FULL = "no full result"
README_BEGIN, README_END = "<!-- index:begin -->", "<!-- index:end -->"


@dataclass
class Entry:
    name: str
    claim: str
    verdict: str                      # reproduced / not reproduced / inconclusive / no full result
    status: str = ""
    source: str = ""
    created: str = ""
    seconds: str = "unknown"
    statements: list = field(default_factory=list)
    observations: list = field(default_factory=list)
    note: str = ""


def _commit(source: str) -> str:
    m = re.search(r"git ([0-9a-f]{7,40})(-dirty)?", source or "")
    return (m.group(1)[:10] + (" (uncommitted changes)" if m.group(2) else "")) if m else (source or "unknown")


def _seconds(ds) -> str:
    """The run's wall time; for a sweep also its cells' compute time (a resumed sweep's run time
    is that of its last invocation only)."""
    import numpy as np

    cells = [v for v in ds.data_vars if v == "cell_seconds" or v.startswith("cell_seconds_")]
    compute = (f" (cells: {sum(float(np.nansum(ds[v].values)) for v in cells) / 3600:.1f} core-h)"
               if cells else "")
    if "run_seconds" in ds.attrs:
        return f"{float(ds.attrs['run_seconds']):.0f} s{compute}"
    if "solve_seconds" in ds.attrs:
        return f"unknown (DMFT solves {float(ds.attrs['solve_seconds']):.0f} s)"
    return "unknown"


def evaluate(exp, ds) -> tuple[list, list]:
    """(statements, observations) of ``exp`` on ``ds``; a failing evaluation is one inconclusive
    statement that says why."""
    try:
        if exp.statements is not None:
            items = [(str(s), str(v), str(e)) for s, v, e in exp.statements(ds)]
        elif exp.check is not None:
            ok, note = exp.check(ds)
            items = [("the experiment's own check (no statements of the claim)", INCONCLUSIVE,
                      f"check {'passes' if ok else 'fails'}: {note}")]
        else:
            items = []
        obs = list(exp.observations(ds)) if exp.observations is not None else []
    except Exception as exc:  # an index must list every experiment
        items = [("evaluation of the statements", INCONCLUSIVE, f"failed: {type(exc).__name__}: {exc}")]
        obs = []
    return items, obs


def entry(exp, ds) -> Entry:
    items, obs = evaluate(exp, ds)
    status = str(ds.attrs.get("status", "complete"))
    verdict = registry.overall(items)
    e = Entry(exp.name, exp.claim, verdict, status, str(ds.attrs.get("source", "")),
              str(ds.attrs.get("created", "")), _seconds(ds), items, obs)
    if status != "complete" and verdict == REPRODUCED:
        e.verdict = INCONCLUSIVE
        e.note = f"every statement holds, but the run did not complete ({status})"
    return e


def entries(root: Path = Path("results")) -> list[Entry]:
    """An entry per registered experiment from ``root/<name>/full.nc``."""
    import xarray as xr

    out = []
    for name, exp in registry.experiments().items():
        path = Path(root) / name / "full.nc"
        if not path.exists():
            out.append(Entry(name, exp.claim, NO_FULL, note=criteria.NO_FULL_REASON.get(
                name, "the full configuration has not been run")))
            continue
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            out.append(entry(exp, ds.load()))
    return out


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figure(claim: str) -> str:
    m = re.match(r"([^:]*?(?:Fig(?:s)?\.|eq\.|App\.|Sec\.)[^:]*):", claim)
    return m.group(1) if m else claim.split(":")[0][:60]


def summary_table(items: list[Entry]) -> str:
    """One row per experiment: paper figure, verdict, statements reproduced, status, commit."""
    lines = ["| experiment | paper | verdict | statements reproduced | status | run time | commit |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for e in items:
        n = sum(v == REPRODUCED for _, v, _ in e.statements)
        verdict = e.verdict if e.verdict != NOT_REPRODUCED else "**not reproduced**"
        if criteria.CHANGES.get(e.name):
            verdict += " (criteria changed)"
        lines.append("| " + " | ".join(_cell(c) for c in (
            f"[`{e.name}`](#{e.name})", _figure(e.claim), verdict,
            f"{n} of {len(e.statements)}" if e.statements else "-", e.status or "-",
            e.seconds if e.verdict != NO_FULL else "-", _commit(e.source) if e.source else "-")) + " |")
    return "\n".join(lines)


def format_index(items: list[Entry]) -> str:
    counts = {v: sum(e.verdict == v for e in items) for v in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NO_FULL)}
    out = ["# What reproduces", "",
           "Generated from the committed full results (`results/<experiment>/full.nc`) by "
           "`python -m grokking_workbench.experiments.index` (also written by `grokking run all`); "
           "do not edit by hand.", "",
           "Each experiment splits the paper's claim into statements; each statement is tested by the "
           "criterion in the experiment module's docstring and gets a verdict: reproduced, not "
           "reproduced, or inconclusive (the data cannot decide). An experiment is reproduced only when "
           "every statement is. Observations are reported beside the verdict, never as part of it. "
           "Statistical rules: `numerics/statistics.py`.", "",
           f"{counts[REPRODUCED]} reproduced, {counts[NOT_REPRODUCED]} not reproduced, "
           f"{counts[INCONCLUSIVE]} inconclusive, {counts[NO_FULL]} without a full result, "
           f"of {len(items)} experiments.", "", summary_table(items), ""]
    for e in items:
        out += [f"## {e.name}", "", f"Claim: {e.claim}", ""]
        if e.verdict == NO_FULL:
            out += [f"**No full result**: {e.note}.", ""]
            continue
        out += [f"Verdict: **{e.verdict}**" + (f" ({e.note})" if e.note else "")
                + f". Status: {e.status}. Run time: {e.seconds}. Commit: {_commit(e.source)}"
                + (f", written {e.created}" if e.created else "") + ".", "",
                "| statement | verdict | evidence |", "| --- | --- | --- |"]
        out += ["| " + " | ".join(_cell(c) for c in item) + " |" for item in e.statements]
        out.append("")
        if e.observations:
            out += ["Observed (not part of the verdict):", ""] + [f"- {_cell(o)}" for o in e.observations] + [""]
        for ch in criteria.CHANGES.get(e.name, []):
            out += [f"Criteria changed {ch.date}: {ch.change} Reason: {ch.reason}"
                    + (f" Verdict under the old criterion: **{ch.old_verdict}** ({ch.old_evidence})."
                       if ch.old_verdict else ""), ""]
    return "\n".join(out).rstrip() + "\n"


def update_readme(readme: Path, items: list[Entry]) -> bool:
    """Replace the README's summary table between the index markers; False if it has none."""
    if not readme.exists():
        return False
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        return False
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    table = summary_table(items).replace("](#", "](results/index.md#")
    readme.write_text(f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}")
    return True


def write(root: Path = Path("results"), readme: Path | None = None) -> Path:
    """Write ``root/index.md`` from the full results under ``root`` (and the README's table)."""
    root = Path(root)
    items = entries(root)
    path = root / "index.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_index(items))
    if readme is None and root.resolve() == (Path.cwd() / "results").resolve():
        readme = Path("README.md")
    if readme is not None:
        update_readme(readme, items)
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m grokking_workbench.experiments.index",
                                 description="Regenerate the results index (RESULTS/index.md and the "
                                             "README's table) from the committed full results.")
    ap.add_argument("results", nargs="?", default="results", help="the results folder (default: results)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    root = Path(args.results)
    if not root.is_dir():
        print(f"results: no such folder: {root}", file=sys.stderr)
        return 2
    print(write(root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
