"""Records of derived identities, as shown in ``results/equations.md``.

Derivation modules (``theory.committee``, ``theory.effective``) return lists of
:class:`Identity`; ``theory.report`` renders them. An identity whose printed form in a paper
differs from the derived one carries ``printed`` and ``note``, and appears in the report's section
"Differences from the printed papers". This module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """One derived identity.

    ``key``: stable identifier (``committee.mercer.quadratic``); ``title``: one line;
    ``paper``: short paper name (``Kumar et al. 2024``, ``DMFT paper``, ``Liu et al. 2022``);
    ``equation``: the paper's equation number(s) or section; ``latex``: the derived form
    (display LaTeX); ``printed``: the printed form if it differs; ``note``: what differs and why.
    """

    key: str
    title: str
    paper: str
    equation: str
    latex: str
    printed: str | None = None
    note: str = ""

    @property
    def is_misprint(self) -> bool:
        return self.printed is not None
