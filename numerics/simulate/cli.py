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
from grokking_workbench.numerics.validate import InputError

log = logging.getLogger(__name__)

TITLE = "committee machine: full-batch Euler gradient flow at finite D (torch)"


def config_from_args(args):
    """The checked :class:`CommitteeConfig` of the command line (``--C0`` is read only with
    ``--A0``: random weights have no prescribed overlaps; ``identity`` is stored written out)."""
    from grokking_workbench.numerics import model_options, options
    from grokking_workbench.numerics.simulate.committee import CommitteeConfig, check_config

    if args.gamma is not None and args.P is not None:
        raise InputError("gamma", "give --gamma or --P, not both")
    if args.gamma is None and args.P is None:
        raise InputError("gamma", "give --gamma (P / D) or --P")
    if args.A0 is None:
        return check_config(options.from_args(CommitteeConfig, args, C0=None))
    return check_config(model_options.identity_written_out(options.from_args(CommitteeConfig, args)))


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
