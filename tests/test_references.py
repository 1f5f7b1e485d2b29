"""Every reference to a repository file in the docs, the README and the code points to a file
that exists.

A reference is a path that starts with a top-level folder of the repository (``docs/``,
``theory/``, ``numerics/``, ``experiments/``, ``tests/``, ``results/``, ``benchmarks/``), in any
Markdown file or in any Python source (docstrings and comments included), or a relative path
with a folder in a Markdown link or backticks of a Markdown file (resolved against that file's
folder). ``<name>``, a component in capitals (``NAME``) and ``*`` stand for any one path component (``results/<name>/full.nc`` must
match at least one committed file). Files that commands write and the repository does not hold
are listed in ``WRITTEN``.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP = ("docs", "theory", "numerics", "experiments", "tests", "results", "benchmarks")
WRITTEN = {"results/index-quick.md", "results/index-full.md"}   # written by `grokking run all`
ROOTED = re.compile(r"(?<![\w./-])(?:" + "|".join(TOP) + r")/[\w.<>*/-]*")
MD_RELATIVE = re.compile(r"`([\w.<>*-]+/[\w.<>*/-]*)`|\]\(([^)#\s]+\.(?:md|py|nc|png))\)")


def _sources():
    skip = {".venv", ".git", "build", "dist"}
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if rel.parts and (rel.parts[0] in skip or rel.parts[0].startswith(".")) or "egg-info" in str(rel):
            continue
        if path.suffix in (".md", ".py") and path.is_file() and path != Path(__file__).resolve():
            yield path


def _exists(ref: str, base: Path) -> bool:
    ref = ref.rstrip(".,;:)")
    if ref in WRITTEN:
        return True
    # placeholders: <name>, or a component in capitals (NAME, DIR)
    pattern = "/".join("*" if re.fullmatch(r"<[^>]*>|[A-Z]+", part) else part
                       for part in ref.rstrip("/").split("/"))
    if "*" in pattern:
        return any(base.glob(pattern))
    return (base / pattern).exists()


def references():
    """(file, reference, base folder) for every reference found."""
    out = []
    for path in _sources():
        text = path.read_text(errors="replace")
        for ref in ROOTED.findall(text):
            out.append((path, ref, ROOT))
        if path.suffix == ".md":
            for a, b in MD_RELATIVE.findall(text):
                ref = a or b
                if "://" in ref or ref.split("/")[0] in TOP or ref.startswith("/"):
                    continue
                out.append((path, ref, path.parent))
    return out


def test_references_are_found():
    """The scanner sees the references it is meant to check."""
    found = {(p.relative_to(ROOT).as_posix(), r) for p, r, _ in references()}
    assert ("README.md", "docs/dmft.md") in found
    assert any(p == "numerics/model.py" and r == "docs/conventions.md" for p, r in found)


def test_every_reference_points_to_a_repository_file():
    missing = sorted({f"{p.relative_to(ROOT)}: {r}" for p, r, base in references() if not _exists(r, base)})
    assert not missing, "references to missing files:\n" + "\n".join(missing)


@pytest.mark.parametrize("ref, ok", [("docs/conventions.md", True), ("docs/no-such-file.md", False),
                                     ("results/<name>/full.nc", True), ("results/<name>/none.nc", False),
                                     ("numerics/dmft/", True)])
def test_the_check_tells_present_from_missing(ref, ok):
    assert _exists(ref, ROOT) is ok


DOTTED = re.compile(r"(?<![\w/.])(?:grokking_workbench\.)?((?:theory|numerics|experiments)(?:\.\w+)+)")


def _top_level_names(path: Path) -> set[str]:
    import ast

    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _resolves(dotted: str) -> bool:
    """``numerics.model.phi``: a module of the package, then (optionally) a name defined at its top
    level (a further attribute, e.g. a method, is not checked)."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:k])
        module = base.with_suffix(".py") if not base.is_dir() else base / "__init__.py"
        if module.is_file():
            rest = parts[k:]
            return not rest or rest[0] in _top_level_names(module)
    return False


def _prose(path: Path) -> str:
    """The text of a Markdown file; the strings and comments of a Python file (not its code)."""
    import io
    import tokenize

    text = path.read_text(errors="replace")
    if path.suffix != ".py":
        return text
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return "\n".join(t.string for t in tokens if t.type in (tokenize.STRING, tokenize.COMMENT))


def test_every_dotted_module_reference_resolves():
    """References such as ``numerics.model.jacobian_times`` or :mod:`theory.effective` in the docs,
    docstrings and comments name a module of the package and, where given, a name it defines."""
    bad = set()
    for path in _sources():
        for ref in DOTTED.findall(_prose(path)):
            if not _resolves(ref.rstrip(".")):
                bad.add(f"{path.relative_to(ROOT)}: {ref}")
    assert not bad, "unresolved module references:\n" + "\n".join(sorted(bad))


@pytest.mark.parametrize("ref, ok", [("numerics.model.phi", True), ("numerics.model.no_such_name", False),
                                     ("theory.generated.committee.test_loss", True),
                                     ("numerics.no_such_module", False), ("numerics.dmft", True)])
def test_the_dotted_check_tells_present_from_missing(ref, ok):
    assert _resolves(ref) is ok
