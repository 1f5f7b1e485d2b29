"""Code generation: derive -> validate -> simplify/cse -> print -> write (``grokking derive``).

Stages, each a function with a stated input and output:

1. :func:`specs` (derive): the derivation modules' results as :class:`Spec` records
   (SymPy expression, contractions, free indices, docstring).
2. :func:`validate`: the identities the generated code relies on hold symbolically
   (loss = sum of the decomposition terms; the Stein form of the online ODE; eigenfunctions);
   raises AssertionError otherwise, so nothing stale or wrong is ever written.
3. :func:`render_function` (cse + print): one NumPy function per spec, SciPy printer, common
   subexpressions eliminated, contractions as ``numpy.einsum``, output allocated explicitly and
   broadcast over leading batch dimensions (A: (..., N), C: (..., N, N), parameters: (...)).
4. :func:`render_module`: a module with the header "generated, do not edit", the generator, the
   SymPy version and the hash of the input (the source of ``theory/*.py``).
5. :func:`write` / :func:`check`: write the files, or compare them with a fresh derivation.
"""

from __future__ import annotations

import hashlib
import logging
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout, or site-packages/grokking_workbench
GENERATED = Path("theory") / "generated"
REPORT = Path("results") / "equations.md"
ORDER_ARGS = ("A", "C", "alpha", "eps")
ARG_ORDER = ("A", "C", "alpha", "eps", "D", "A0")

log = logging.getLogger(__name__)


@dataclass
class Spec:
    """One generated function: ``expr`` with contractions ``table``, free indices ``free``."""

    name: str
    expr: object
    table: dict
    free: tuple
    doc: str
    latex_lhs: str
    order_parameters: bool = True


# ----------------------------------------------------------------------------- 1. derive
def specs() -> list[Spec]:
    """All generated functions of ``theory/generated/committee.py``, in file order."""
    import sympy as sp

    from grokking_workbench.theory import committee as c

    out = [Spec(d.name, d.expr, d.table, d.free, d.doc, d.latex_lhs)
           for d in [c.test_loss(), *c.decomposition_terms(), c.mean_error(), c.response_h(),
                     c.response_hstar(), c.online_rhs_A(), c.online_rhs_C(),
                     c.gradient_covariance()]]
    # kernel-task alignment numerator (Kumar eq. 20) in order parameters
    dec = c.loss_decomposition()
    num = sp.expand(c.alignment_numerator().subs(dec["to_order"]))
    out.append(Spec("alignment_numerator", num, {s: t for s, t in dec["table"].items()
                                                 if s in num.free_symbols}, (),
                    "Kernel-task alignment numerator <y(x) K(x,x') y(x')> of Kumar et al. 2024, "
                    "eq. (20) (K normalised as eq. 18), in order parameters at dimension D.",
                    r"\langle y K y' \rangle", order_parameters=False))
    esc = c.escape()
    out.append(Spec("escape_rate", esc["rate"], {}, (),
                    "Early-time growth rate of A at alpha -> 0 (DMFT paper, eq. 19).",
                    r"\lambda_{\rm esc}", order_parameters=False))
    out.append(Spec("escape_time", esc["time"], {}, (),
                    "Escape time t* at which A reaches 1/alpha (DMFT paper, eq. 20).",
                    r"t^\star", order_parameters=False))
    for kernel, K in (("ntk", c.initial_ntk()), ("readout", c.readout_kernel())):
        spec = c.mercer_spectrum(K)
        for part in ("linear", "quadratic_offdiagonal", "norm"):
            label = "quadratic" if part == "quadratic_offdiagonal" else part
            src = "Kumar et al. 2024, App. 11.1" if kernel == "ntk" else "Kumar et al. 2024, eq. (23)"
            out.append(Spec(f"{kernel}_eigenvalue_{label}", spec[part]["eigenvalue"], {}, (),
                            f"Mercer eigenvalue of the {'initial NTK' if kernel == 'ntk' else 'initial NTK with trained readouts (divided by alpha^2/N)'} "
                            f"for eigenfunction {spec[part]['eigenfunction']}, x ~ N(0, I/D) ({src}).",
                            rf"\lambda^{{\rm {kernel}}}_{{\rm {label}}}", order_parameters=False))
    return out


# ----------------------------------------------------------------------------- 2. validate
def validate() -> None:
    """Check the identities the generated code relies on; AssertionError if one fails."""
    import sympy as sp

    from grokking_workbench.theory import committee as c
    from grokking_workbench.theory.indexed import A as Asym

    dec = c.loss_decomposition()
    assert sp.expand(dec["matrix_loss"] - sum(dec["matrix"].values())) == 0, \
        "Kumar eq. 6: the three terms do not sum to the matrix-form loss"
    assert sp.expand(sum(dec["order"].values()) - c.test_loss().expr) == 0, \
        "Kumar eq. 6: the order-parameter terms do not sum to the Wick test loss"
    for K in (c.initial_ntk(), c.readout_kernel()):
        spec = c.mercer_spectrum(K)
        assert spec["quadratic_offdiagonal"]["eigenvalue"] == spec["quadratic_diagonal"]["eigenvalue"]
    # small-alpha linearisation of dA/dt is (3 eps / 2) A (DMFT eq. 19)
    assert sp.simplify(c.escape()["linearised"] - c.escape()["rate"] * Asym("i")) == 0
    # (Stein form of the online ODE is checked numerically on the generated code by the tests.)


# ----------------------------------------------------------------------------- 3. print
_PY_NAMES = {"alpha": "alpha", "epsilon": "eps", "N": "N", "D": "D", "A0": "A0"}


def _placement(free: tuple, out_free: tuple) -> str:
    if out_free == ():
        return ""
    if out_free == ("i",):
        return "" if free == ("i",) else "[..., None]"
    return {(): "[..., None, None]", ("i",): "[..., :, None]", ("j",): "[..., None, :]",
            ("i", "j"): ""}[free]


def render_function(spec: Spec) -> str:
    """Python source of one generated function (cse'd, SciPy printer, explicit output)."""
    import sympy as sp
    from sympy.printing.numpy import SciPyPrinter

    expr = spec.expr
    rename, prelude = {}, []
    contractions = sorted(spec.table.items(), key=lambda kv: str(kv[0]))
    out_free = spec.free
    for n, (sym, con) in enumerate(contractions):
        if sym not in expr.free_symbols:
            continue
        name = f"S{n}"
        rename[sym] = sp.Symbol(name)
        sub, ops = con.einsum()
        opt = ", optimize=True" if len(ops) > 1 else ""  # BLAS path for products of arrays
        prelude.append(f"    {name} = numpy.einsum({sub!r}, {', '.join(ops)}{opt})"
                       f"{_placement(con.free, out_free)}  # {con}")
    for sym in sorted(expr.free_symbols - set(spec.table), key=str):
        s = sym.name
        if s in _PY_NAMES:
            if _PY_NAMES[s] != s:
                rename[sym] = sp.Symbol(_PY_NAMES[s])
            continue
        if s == "delta_ij":
            prelude.append("    delta_ij = numpy.eye(N)")
        elif s.startswith("C_") and s[2] == s[3]:
            idx = s[2]
            prelude.append(f"    {s} = numpy.einsum('...ii->...i', C){_placement((idx,), out_free)}")
        elif s.startswith("C_"):
            prelude.append(f"    {s} = C")
        elif s.startswith("A_"):
            prelude.append(f"    {s} = A{_placement((s[2],), out_free)}")
        else:
            raise ValueError(f"{spec.name}: no rule to print symbol {s}")
    expr = expr.xreplace(rename)
    replacements, (reduced,) = sp.cse(expr, symbols=sp.numbered_symbols("x"), optimizations="basic")
    printer = SciPyPrinter({"fully_qualified_modules": True, "inline": True})
    lines = [f"    {sym} = {printer.doprint(val)}" for sym, val in replacements]
    body = printer.doprint(reduced)
    doc = textwrap.fill(spec.doc.replace("\\", "\\\\"), 92, subsequent_indent="    ")
    if spec.order_parameters:
        args = ORDER_ARGS
        shape = {(): "", ("i",): " + (N,)", ("i", "j"): " + (N, N)"}[out_free]
        head = [f"def {spec.name}(A, C, alpha, eps):",
                f'    """{doc}\n\n    A: (..., N), C: (..., N, N), alpha and eps: scalars or (...);'
                f' returns {("a (...) array", "a (..., N) array", "a (..., N, N) array")[len(out_free)]}.\n    """',
                "    A, C, N = _overlaps(A, C)",
                "    shape = numpy.broadcast_shapes(A.shape[:-1], C.shape[:-2], numpy.shape(alpha), "
                f"numpy.shape(eps)){shape}",
                f"    alpha = _parameter(alpha, {len(out_free)})",
                f"    eps = _parameter(eps, {len(out_free)})"]
    else:
        used = {_PY_NAMES.get(s.name, s.name) for s in spec.expr.free_symbols}
        if set(spec.table) & spec.expr.free_symbols:
            used |= {"A", "C"}
        args = tuple(a for a in ARG_ORDER if a in used)
        head = [f"def {spec.name}({', '.join(args)}):",
                f'    """{doc}\n\n    Arguments broadcast against each other.\n    """']
        for a in args:
            if a in ("A", "C"):
                continue
            head.append(f"    {a} = numpy.asarray({a}, dtype=float)")
        if "C" in args:
            head.append("    A, C, N = _overlaps(A, C)")
            head.append("    shape = numpy.broadcast_shapes(A.shape[:-1], C.shape[:-2], "
                        + ", ".join(f"numpy.shape({a})" for a in args if a not in ("A", "C")) + ")")
        else:
            head.append("    shape = numpy.broadcast_shapes("
                        + ", ".join(f"numpy.shape({a})" for a in args) + ("," if len(args) == 1 else "")
                        + ")")
    tail = ["    out = numpy.empty(shape)", f"    out[...] = {body}", "    return out[()]"]
    return "\n".join(head + prelude + lines + tail) + "\n"


_MODULE_HELPERS = '''

def _overlaps(A, C):
    """A as (..., N) and C as (..., N, N) float arrays with the same N."""
    A = numpy.asarray(A, dtype=float)
    C = numpy.asarray(C, dtype=float)
    if C.ndim < 2 or C.shape[-1] != C.shape[-2]:
        raise ValueError(f"C must have shape (..., N, N), got {C.shape}")
    N = C.shape[-1]
    if A.ndim < 1 or A.shape[-1] != N:
        raise ValueError(f"A must have shape (..., N) with N = {N}, got {A.shape}")
    return A, C, N


def _parameter(value, trailing):
    """A parameter as a NumPy scalar, or as an array with ``trailing`` unit axes appended to
    broadcast against (..., N) or (..., N, N) (scalars stay scalars: faster arithmetic)."""
    value = numpy.asarray(value, dtype=float)
    return value[(...,) + (None,) * trailing] if value.ndim else value[()]


def online_rhs(A, C, alpha, eps):
    """Online-limit ODE right-hand side (dA/dt, dC/dt) (DMFT paper, eqs. 11-12, 14-15, derived
    for general alpha and N): see online_rhs_A and online_rhs_C."""
    return online_rhs_A(A, C, alpha, eps), online_rhs_C(A, C, alpha, eps)
'''


def input_hash() -> str:
    """SHA-256 over the derivation sources (``theory/*.py``) and the SymPy version."""
    import sympy

    h = hashlib.sha256(f"sympy {sympy.__version__}\n".encode())
    for path in sorted((ROOT / "theory").glob("*.py")):
        h.update(path.name.encode() + b"\n" + path.read_bytes())
    return h.hexdigest()[:16]


def render_module(all_specs: list[Spec]) -> str:
    """The source of ``theory/generated/committee.py``."""
    import sympy

    header = (f'"""Committee-machine formulas generated from theory/committee.py.\n\n'
              "Generated by `grokking derive` (theory/codegen.py); do not edit.\n"
              f'"""\n# generator: grokking_workbench.theory.codegen; SymPy {sympy.__version__}; input hash {input_hash()}\n\n'
              "import numpy\n")
    funcs = "\n\n".join(render_function(s) for s in all_specs)
    names = [s.name for s in all_specs] + ["online_rhs"]
    return header + f"\n__all__ = {names!r}\n" + _MODULE_HELPERS + "\n\n" + funcs


# ----------------------------------------------------------------------------- 5. write / check
def outputs() -> dict[Path, str]:
    """Relative path -> text of every derived file (runs stages 1-4 and the report)."""
    from grokking_workbench.theory import report

    start = time.perf_counter()
    all_specs = specs()
    validate()
    files = {GENERATED / "committee.py": render_module(all_specs),
             GENERATED / "__init__.py": '"""Generated NumPy modules (do not edit): `grokking derive` '
                                        'writes them."""\n',
             REPORT: report.render(all_specs)}
    log.info("derived %d functions in %.1f s", len(all_specs), time.perf_counter() - start)
    return files


def source_checkout(root: Path = ROOT) -> bool:
    """True when the package runs from a source checkout (``pyproject.toml`` beside ``theory/``);
    False for an installed package, whose folder holds the generated modules but no ``results/``."""
    return (root / "pyproject.toml").is_file()


def write(root: Path = ROOT, report_dir: Path | None = None) -> list[Path]:
    """Write the derived files; return the paths written.

    In a source checkout the generated modules go under ``root`` and the report to
    ``root/results/equations.md`` (or ``report_dir/equations.md``). In an installed package only
    the report is written, to ``report_dir`` (default: the current directory): nothing is written
    into the installed package.
    """
    checkout = source_checkout(root)
    written = []
    for rel, text in outputs().items():
        if rel == REPORT:
            if report_dir is None and not checkout:
                report_dir = Path.cwd()
            path = root / rel if report_dir is None else Path(report_dir) / rel.name
        elif checkout:
            path = root / rel
        else:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def check(root: Path = ROOT) -> list[Path]:
    """Paths whose content differs from a fresh derivation (empty: up to date): the generated
    modules under ``root`` and, in a source checkout, ``results/equations.md``."""
    checkout = source_checkout(root)
    stale = []
    for rel, text in outputs().items():
        if rel == REPORT and not checkout:
            continue
        path = root / rel
        if not path.exists() or path.read_text() != text:
            stale.append(path)
    return stale
