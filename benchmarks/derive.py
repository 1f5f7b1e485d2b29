"""Benchmark: wall time of a full `grokking derive`, and the generated online right-hand side on a
batch of 10^5 states against plain `lambdify` (no cse) of the same index-generic expressions.
Both take the same arrays A (B, N), C (B, N, N); the lambdified functions are fed the same
per-element arrays and einsum contractions the generated code computes, so the comparison is
of cse and printing, with every array the expressions need computed inside the timed call.

Prints a final line of JSON.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import best_time  # noqa: E402


def main():
    import sympy as sp

    from grokking_workbench.theory import codegen, committee
    from grokking_workbench.theory.generated import committee as gen

    t0 = time.perf_counter()
    files = codegen.outputs()      # every stage: derive, validate, cse, print, report
    derive_s = time.perf_counter() - t0

    B, N = 100_000, 2
    rng = np.random.default_rng(0)
    W = rng.normal(size=(B, N, 16))
    A = W @ rng.normal(size=16) / 16
    C = W @ np.swapaxes(W, 1, 2) / 16
    alpha, eps = 0.5, 0.05
    generated_s = best_time(lambda: gen.online_rhs(A, C, alpha, eps), 5, warmup=False)

    # plain lambdify (no cse) of the same index-generic expressions, on per-element arrays
    def plain(d):
        syms = sorted(d.expr.free_symbols, key=str)
        f = sp.lambdify(syms, d.expr, "numpy", cse=False)
        return f, syms

    derived = [committee.online_rhs_A(), committee.online_rhs_C()]
    funcs = [plain(d) for d in derived]

    def values(d, syms):
        out = []
        for s in syms:
            name = s.name
            if s in d.table:
                sub, ops = d.table[s].einsum()
                arr = np.einsum(sub, *[C if o == "C" else A for o in ops])
                free = d.table[s].free
                shape = {(): (...,) + (None,) * len(d.free), ("i",): (..., slice(None)) + ((None,) if d.free == ("i", "j") else ()),
                         ("j",): (..., None, slice(None)), ("i", "j"): (...,)}[free]
                out.append(arr[shape])
            elif name == "alpha":
                out.append(alpha)
            elif name == "epsilon":
                out.append(eps)
            elif name == "N":
                out.append(N)
            elif name.startswith("C_") and name[2] == name[3]:
                diag = np.einsum("...ii->...i", C)
                out.append(diag[..., :, None] if (name[2] == "i" and d.free == ("i", "j")) else
                           diag[..., None, :] if name[2] == "j" else diag)
            elif name.startswith("C_"):
                out.append(C)
            elif name.startswith("A_"):
                out.append(A[..., :, None] if (name[2] == "i" and d.free == ("i", "j")) else
                           A[..., None, :] if name[2] == "j" else A)
        return out

    def lambdified():
        return [f(*values(d, syms)) for d, (f, syms) in zip(derived, funcs)]

    res = lambdified()
    ref = gen.online_rhs(A, C, alpha, eps)
    max_dev = max(float(np.max(abs(r - g))) for r, g in zip(res, ref))
    lambdify_s = best_time(lambdified, 5, warmup=False)
    print(f"grokking derive (all stages, {len(files)} files): {derive_s:.2f} s")
    print(f"online_rhs on {B} states (N = {N}): generated {generated_s * 1e3:.1f} ms, "
          f"plain lambdify {lambdify_s * 1e3:.1f} ms (max difference {max_dev:.2e})")
    print(json.dumps({"benchmark": "derive", "derive_wall_s": round(derive_s, 3), "batch": B, "N": N,
                      "generated_online_rhs_ms": round(generated_s * 1e3, 3),
                      "lambdify_online_rhs_ms": round(lambdify_s * 1e3, 3),
                      "lambdify_over_generated": round(lambdify_s / generated_s, 3),
                      "max_abs_difference": max_dev}))


if __name__ == "__main__":
    main()
