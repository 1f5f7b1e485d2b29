"""The ``grokking`` command.

Subcommands (``grokking COMMAND --help`` for each):

- ``derive [--check]``: run the SymPy derivations, regenerate ``theory/generated/`` and
  ``results/equations.md``; with ``--check``, exit 1 if anything committed is stale.
- ``run NAME [--quick] [--out-dir DIR]``, ``run all``, ``run --list``: registered experiments.
- ``ode``: the online-limit (gamma = inf) ODEs of the committee machine.
- ``simulate``: torch simulations of the committee machine at finite D.
- ``dmft``: the finite-gamma DMFT of the committee machine.

Heavy imports happen inside the handlers, so ``--help`` answers at once. Invalid input (a
parameter, or an output path that cannot take the result) exits with code 2 and a one-line message
naming the option, before anything is computed or written. An interrupt (Ctrl-C, SIGTERM) saves
what was computed, marked ``interrupted``, and exits 130. Exit codes are defined in
:mod:`numerics.io`.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from grokking_workbench.numerics.io import (EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED,  # noqa: F401
                                             EXIT_STALE)

OUT_HELP = ("output NetCDF file (missing folders are created; checked before the run starts: a folder, "
            "a file that is not a dataset, or a dataset of another configuration is refused)")


_ARGV: list[str] = []   # the arguments of the running command (main's argv, or sys.argv[1:])


def _command_line() -> str:
    return "grokking " + " ".join(shlex.quote(a) for a in _ARGV)


# ----------------------------------------------------------------------------- derive
def _add_derive(sub) -> None:
    p = sub.add_parser("derive", help="regenerate generated code and results/equations.md",
                       description="Run the SymPy derivations (derive -> validate -> cse -> print). In a "
                       "source checkout, write theory/generated/*.py and results/equations.md; from an "
                       "installed package, write only equations.md, into --out-dir (default: the current "
                       "directory), never into the installed package.")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the generated modules (and, in a source checkout, "
                   "results/equations.md) differ from a fresh derivation")
    p.add_argument("--out-dir", type=Path, default=None,
                   help="write equations.md into this folder (created if missing) instead of results/")
    p.set_defaults(handler=_derive)


def _derive(args) -> int:
    from grokking_workbench.theory import codegen

    checkout = codegen.source_checkout()
    if args.check:
        stale = codegen.check()
        for path in stale:
            print(f"stale: {path}")
        checked = ("generated modules and results/equations.md" if checkout else
                   f"generated modules of the installed package ({codegen.ROOT / codegen.GENERATED})")
        print(f"checked the {checked} against a fresh derivation: "
              + ("up to date" if not stale else "run `grokking derive` to regenerate"))
        return EXIT_STALE if stale else 0
    if not checkout:
        print("installed package: its generated modules are not rewritten (change derivations in a "
              "source checkout); writing the equations report only")
    for path in codegen.write(report_dir=args.out_dir):
        print(f"wrote {path}")
    return 0


# ----------------------------------------------------------------------------- run
def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run a registered experiment (or all of them)",
                       description="Run a registered experiment; write DIR/quick.nc or DIR/full.nc "
                       "(a labelled dataset) and a figure beside it.")
    p.add_argument("name", nargs="?", help="experiment name, or 'all'")
    p.add_argument("--list", action="store_true", help="list the registered experiments")
    p.add_argument("--quick", action="store_true", help="the quick configuration (default: full)")
    p.add_argument("--out-dir", type=Path,
                   help="output folder (default results/NAME/; for 'all', the root, default results/; "
                   "created if missing)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a dataset of a different configuration")
    p.add_argument("--redraw", action="store_true",
                   help="only redraw the figure of the dataset already in DIR (nothing is computed)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="digit experiments: read the standard MNIST IDX files from this folder instead "
                   "of scikit-learn's bundled 8 x 8 digits (nothing is downloaded)")
    _add_sweep_args(p)
    p.set_defaults(handler=_run)


def _add_sweep_args(p) -> None:
    """Where the grids of sweep experiments (numerics.sweep) run; finished cells are kept under
    DIR/cells/ (for 'all': ROOT/sweep-cells/), and a rerun skips them."""
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run grids on an existing dask cluster (e.g. tcp://host:8786; start one with "
                   "`dask scheduler` and `dask worker ADDRESS`)")
    p.add_argument("--workers", default=None, metavar="N",
                   help="grids on a local cluster of N worker processes (default: one per core); "
                   "1 runs them in this process")


def _sweep_settings(args, store_root: Path):
    """Check --scheduler/--workers (InputError: exit 2 before anything runs); the sweep layer's
    settings for this command, as a context manager."""
    from grokking_workbench.numerics import sweep
    from grokking_workbench.numerics.sweep.engine import check_scheduler, check_workers
    from grokking_workbench.numerics.validate import InputError

    scheduler = check_scheduler(args.scheduler)
    if scheduler is not None and args.workers is not None:
        raise InputError("workers", "sizes a local cluster; not with --scheduler")
    workers = check_workers("auto" if args.workers is None else args.workers)
    return sweep.settings(scheduler=scheduler, workers=workers, store_root=store_root,
                          progress=sys.stderr.isatty())


def _run(args) -> int:
    from grokking_workbench.experiments import registry, runner
    from grokking_workbench.numerics.validate import InputError

    if args.list or not args.name:
        for exp in registry.experiments().values():
            print(f"{exp.name:24s} {exp.summary}")
        return 0 if args.list else EXIT_BAD_INPUT
    label = "quick" if args.quick else "full"
    if args.redraw:
        names = list(registry.experiments()) if args.name == "all" else [args.name]
        for name in names:
            try:
                registry.get(name)
            except KeyError as exc:
                print(f"grokking run: {exc.args[0]}", file=sys.stderr)
                return EXIT_BAD_INPUT
            root = args.out_dir / name if args.out_dir and args.name == "all" else args.out_dir
            if args.name == "all" and not ((root or Path("results") / name) / f"{label}.nc").is_file():
                continue
            print(f"wrote {runner.redraw(name, label, root)}")
        return 0
    if args.name == "all":
        from grokking_workbench.experiments.derive_check import check_outcome

        if args.data_dir is not None:
            raise InputError("data-dir", "give it with one digit experiment (digits-grokking, digits-alpha, "
                             "phase-diagram-images), not with 'all'")
        sweeps = _sweep_settings(args, (args.out_dir or Path("results")) / "sweep-cells")
        derive_outcome = check_outcome()
        with sweeps:
            outcomes, index = runner.run_all(label, args.out_dir or Path("results"),
                                             overwrite=args.overwrite, command=_command_line(),
                                             extra=[derive_outcome], report=print)
        print(f"wrote {index}")
        if any(o.status.startswith("interrupted") for o in outcomes):
            return EXIT_INTERRUPTED
        return 0 if all(o.status == "complete" for o in outcomes) else EXIT_STALE
    try:
        registry.get(args.name)
    except KeyError as exc:
        print(f"grokking run: {exc.args[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with _sweep_settings(args, (args.out_dir or Path("results") / args.name) / "cells"):
        o = runner.run_one(args.name, label, args.out_dir, overwrite=args.overwrite,
                           command=_command_line(), data_dir=args.data_dir)
    for path in o.files:
        print(f"wrote {path}")
    if o.status.startswith("interrupted"):
        print(f"{args.name}: {o.status}" + ("" if o.files else " (nothing to save)"))
        return EXIT_INTERRUPTED
    if o.claim_ok is not None:
        print(f"claim holds: {o.claim_ok} ({o.claim_note})")
    return 0 if o.status == "complete" else 1


# ----------------------------------------------------------------------------- ode, simulate, dmft
# The options of these commands are declared on the configuration dataclasses they fill
# (numerics.options); the options below belong to the commands themselves.
def _add_output(p, resume: str | None = None) -> None:
    """--out and --overwrite (and --resume, with its help, where the command resumes)."""
    p.add_argument("--out", type=Path, required=True, help=OUT_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace a file of a different configuration")
    if resume is not None:
        p.add_argument("--resume", action="store_true", help=resume)


def _add_ode(sub) -> None:
    from grokking_workbench.numerics import options
    from grokking_workbench.numerics.ode import ODEConfig

    p = sub.add_parser("ode", help="integrate the online-limit (gamma = inf) ODEs",
                       description="Integrate the generated online-limit ODEs for (A, C) and write "
                       "A(t, i), C(t, i, j), test_loss(t) and the loss-decomposition terms.")
    options.add_options(p, ODEConfig)
    _add_output(p)
    p.set_defaults(handler=lambda args: _delegate("grokking_workbench.numerics.ode", args))


def _add_simulate(sub) -> None:
    from grokking_workbench.numerics import options
    from grokking_workbench.numerics.simulate.committee import CommitteeConfig

    p = sub.add_parser("simulate", help="torch simulation of the committee machine at finite D",
                       description="Full-batch Euler gradient flow of the committee machine on P = "
                       "gamma*D Gaussian points, for several seeds at once.")
    options.add_options(p, CommitteeConfig)
    _add_output(p, resume="continue the interrupted (or checkpointed) run saved in --out; its result "
                "equals the uninterrupted run's. Execution settings (--records, --threads, --chunk, "
                "--device) may differ from the first run")
    p.set_defaults(handler=lambda args: _delegate("grokking_workbench.numerics.simulate.cli", args))


def _add_dmft(sub) -> None:
    from grokking_workbench.numerics import model_options, options
    from grokking_workbench.numerics.dmft.solver import DMFTConfig

    p = sub.add_parser("dmft", help="solve the finite-gamma DMFT of the committee machine",
                       description="Solve the DMFT of the committee machine at P = gamma D, D -> inf "
                       "(DMFT paper eqs. 2-9): train and test loss, A, C and the two-time correlation "
                       "and response functions, and the train/test gap formula (eq. 5).")
    options.add_option(p, "N", model_options.N)     # N is the length of A0 in the configuration
    options.add_options(p, DMFTConfig)
    p.add_argument("--uniform", action="store_true", help="a uniform grid of step --dt")
    p.add_argument("--two-time-points", type=int, default=201,
                   help="march: store the two-time functions on about this many grid nodes")
    p.add_argument("--workers", type=int, default=None,
                   help="march: processes over which the replicas and their step-halving partners run "
                        "(default: one per core, at most two per replica; the result does not depend on it)")
    _add_output(p, resume="iterate: continue from the solver state saved in --out (same configuration; "
                "--max-iter may differ, each run adds at most --max-iter iterations); the result "
                "equals the uninterrupted run's; a complete file is left as it is")
    p.set_defaults(handler=lambda args: _delegate("grokking_workbench.numerics.dmft.cli", args))


def _delegate(module: str, args) -> int:
    import importlib

    args.command_line = _command_line()
    return importlib.import_module(module).main(args)


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grokking",
        description="Grokking theory workbench: derived equations, DMFT/ODE solvers and torch "
        "simulations of three theories of grokking, stored as labelled datasets.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log what each step does (INFO) and show progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_derive, _add_run, _add_ode, _add_simulate, _add_dmft):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    from grokking_workbench.numerics import interrupt, threads
    from grokking_workbench.numerics.io import ConfigMismatchError, OutputPathError
    from grokking_workbench.numerics.validate import InputError

    threads.configure()
    with interrupt.handled():
        try:
            return int(args.handler(args) or 0)
        except (InputError, OutputPathError, ConfigMismatchError) as exc:
            print(f"grokking {args.command}: error: {_message(exc, parser)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print(f"grokking {args.command}: interrupted ({interrupt.received() or 'SIGINT'}) before "
                  "anything could be saved", file=sys.stderr)
            return EXIT_INTERRUPTED


def _message(exc, parser) -> str:
    """One line for a bad parameter or path, naming its option as the command line spells it
    (``--t-max``), the same in every subcommand."""
    param = getattr(exc, "param", None)
    text = str(exc).splitlines()[0]
    if not param:
        return text
    detail = getattr(exc, "detail", None) or text.split(": ", 1)[-1]
    flags = "/".join("--" + part.replace("_", "-") for part in param.split("/"))
    return f"{flags}: {detail}"


if __name__ == "__main__":
    sys.exit(main())
