"""The derivation check as a row of the experiment index (``grokking run all``).

``theory/codegen.py`` knows whether the generated modules and ``results/equations.md`` match a
fresh derivation (:func:`theory.codegen.check`); this adapter reports that as an
:class:`experiments.runner.Outcome`, so that the theory layer never imports the experiments.
"""

from __future__ import annotations

import time


def check_outcome():
    """The staleness check of ``grokking derive --check`` as an Outcome for the index."""
    from grokking_workbench.experiments.runner import Outcome
    from grokking_workbench.theory import codegen

    start = time.perf_counter()
    stale = codegen.check()
    status = "complete" if not stale else "stale: " + ", ".join(
        str(p.relative_to(codegen.ROOT)) for p in stale)
    checked = ("generated code and results/equations.md" if codegen.source_checkout()
               else "generated code")
    return Outcome("derive --check", "-", status, time.perf_counter() - start,
                   [codegen.ROOT / codegen.GENERATED / "committee.py"], claim_ok=not stale,
                   claim_note=f"{checked} match the derivations")
