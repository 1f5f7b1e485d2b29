"""``grokking simulate``: torch simulations of the committee machine, written as a dataset.

Validates every parameter and the output path before anything runs (the command exits 2 and
writes no file), runs :func:`numerics.simulate.committee.simulate`, writes the dataset with its
``status`` and exits 0, or EXIT_DIVERGED if the run diverged (the computed records are saved).
An interrupt (Ctrl-C, SIGTERM) saves the records and the state of the run and exits 130;
``--resume`` continues it to the same result as an uninterrupted run.
"""

from __future__ import annotations

import logging

from grokking_workbench.numerics.io import EXIT_DIVERGED, EXIT_INTERRUPTED
from grokking_workbench.numerics.ode import parse_matrix, parse_vector
from grokking_workbench.numerics.validate import InputError

log = logging.getLogger(__name__)

TITLE = "committee machine: full-batch Euler gradient flow at finite D (torch)"


def _values(name: str, value):
    """A number, or a comma-separated list of numbers (a sweep) as a tuple."""
    if isinstance(value, str):
        values = parse_vector(name, value)
        return float(values[0]) if values.size == 1 and "," not in value else tuple(values.tolist())
    return value


def config_from_args(args):
    """The validated :class:`CommitteeConfig` of the command line."""
    from grokking_workbench.numerics import validate
    from grokking_workbench.numerics.simulate.committee import CommitteeConfig, check_config

    N = validate.positive_int("N", args.N)
    A0 = parse_vector("A0", args.A0, N) if args.A0 is not None else None
    C0 = parse_matrix("C0", args.C0, N) if A0 is not None else None
    if args.gamma is not None and args.P is not None:
        raise InputError("gamma", "give --gamma or --P, not both")
    if args.gamma is None and args.P is None:
        raise InputError("gamma", "give --gamma (P / D) or --P")
    cfg = CommitteeConfig(
        N=N, D=args.D, alpha=_values("alpha", args.alpha), eps=_values("eps", args.eps),
        t_max=args.t_max, dt=args.dt, gamma=args.gamma, P=args.P,
        A0=None if A0 is None else tuple(A0.tolist()),
        C0=None if C0 is None else tuple(tuple(r) for r in C0.tolist()),
        sigma=getattr(args, "sigma", 1.0), seeds=args.seeds, seed0=args.seed0,
        records=args.records, held_out=args.held_out,
        fresh_data=getattr(args, "fresh_data", False), device=args.device, dtype=args.dtype,
        max_loss=getattr(args, "max_loss", 1e8), threads=getattr(args, "threads", None),
        chunk=getattr(args, "chunk", None))
    return check_config(cfg)


def main(args) -> int:
    """Run ``grokking simulate``; return the exit code."""
    from grokking_workbench.numerics import interrupt, io
    from grokking_workbench.numerics.simulate.committee import simulate

    cfg = config_from_args(args)
    overwrite = getattr(args, "overwrite", False)
    resume = getattr(args, "resume", False)
    if resume and overwrite:
        raise InputError("resume", "--resume continues the file in --out; it cannot be combined with --overwrite")
    stored = io.check_output(args.out, cfg, overwrite=overwrite)
    saved, command = None, args.command_line
    if resume:
        if stored is None:
            raise InputError("resume", f"{args.out} holds no run to resume")
        if stored.get("status") == "complete":
            print(f"{args.out} is complete: nothing to resume")
            return 0
        if "resume_step" not in stored:
            raise InputError("resume", f"{args.out} holds no saved state to resume from "
                             f"(status: {stored.get('status')})")
        saved = io.read_dataset(args.out)
        command = io.resumed_history(stored, command)

    def save(ds):
        return io.write_dataset(ds, args.out, cfg, title=TITLE, command=command,
                                status=ds.attrs["status"], overwrite=overwrite)

    with interrupt.polling():
        ds = simulate(cfg, resume=saved, checkpoint=save, progress=True if getattr(args, "verbose", False) else None)
    status = ds.attrs["status"]
    path = save(ds)
    if status.startswith("interrupted"):
        print(f"interrupted: wrote {path} ({status})")
        return EXIT_INTERRUPTED
    mean = ds.test_loss.isel(t=-1).mean().item() if ds.sizes["t"] else float("nan")
    print(f"wrote {path} ({status}; {ds.sizes['t']} records, mean final test loss {mean:.6g})")
    return 0 if status == "complete" else EXIT_DIVERGED
