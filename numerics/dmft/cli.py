"""``grokking dmft``: solve the DMFT and write its dataset (see :mod:`numerics.dmft.solver`).

The output path is checked before the solve. An interrupt saves what was computed (a march: the
replicas' average up to the time reached; an iteration: the last iterate and the solver state)
with status ``interrupted ...`` and exits 130. ``--resume`` continues an iteration from the saved
state to the same result as an uninterrupted run; a complete file is left as it is.
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np

from grokking_workbench.numerics import io
from grokking_workbench.numerics.io import EXIT_DIVERGED, EXIT_INTERRUPTED
from grokking_workbench.numerics.validate import InputError, positive_int

log = logging.getLogger(__name__)


def config_from_args(args):
    """The checked :class:`DMFTConfig` of the command line: ``--uniform`` sets the growth to 0,
    the source defaults to the method's, ``--A0`` has ``--N`` values and ``identity`` is stored
    written out."""
    from grokking_workbench.numerics import model_options, options
    from grokking_workbench.numerics.dmft.solver import DMFTConfig, check_config

    N = model_options.N.check("N", args.N)
    model_options.parse_vector("A0", args.A0, N)
    cfg = options.from_args(DMFTConfig, args, growth=0.0 if args.uniform else args.growth,
                            source=args.source or ("cholesky" if args.method == "iterate" else "empirical"))
    return check_config(model_options.identity_written_out(cfg))


def _title(cfg) -> str:
    return (f"DMFT of the committee machine: N = {cfg.N}, gamma = {cfg.gamma}, alpha = {cfg.alpha}, "
            f"eps = {cfg.eps}")


def _saved_state(cfg, out, stored):
    """The iterate and residuals saved in ``out`` (InputError if there is nothing to resume)."""
    from grokking_workbench.numerics.dmft import sweep

    if stored is None:
        raise InputError("resume", f"{out} holds no saved iteration to resume")
    saved = io.read_dataset(out)
    if "iterate_Cg" not in saved:
        raise InputError("resume", f"{out} holds no solver state to resume from (status: "
                         f"{stored.get('status')})")
    if saved.sizes.get("t") != cfg.T + 1:
        raise InputError("resume", f"the saved solve in {out} stopped before t-max")
    start = sweep.Fields(saved.iterate_Cg.values, saved.iterate_Rh.values, saved.iterate_Rhstar.values)
    return start, [float(r) for r in saved.residual.values]


def summary(ds) -> str:
    """The last finite values of a solve, in plain numbers, with the time they belong to."""
    finite = np.isfinite(ds.train_loss.values) & np.isfinite(ds.test_loss.values) \
        & np.isfinite(ds.A.values).all(axis=-1)
    if not finite.any():
        return "no finite values"
    k = int(np.flatnonzero(finite)[-1])
    t = float(ds.t[k])
    label = "t_max" if math.isclose(t, float(ds.t[-1])) and ds.attrs.get("status") == "complete" else f"t = {t:.4g}"
    A = ", ".join(f"{a:.4g}" for a in ds.A.values[k])
    return (f"at {label}: A = [{A}], train loss {float(ds.train_loss[k]):.4g}, "
            f"test loss {float(ds.test_loss[k]):.4g}")


def main(args) -> int:
    from grokking_workbench.numerics import interrupt
    from grokking_workbench.numerics.dmft import solver, sweep

    cfg = config_from_args(args)
    positive_int("two_time_points", args.two_time_points)
    if args.workers is not None:
        positive_int("workers", args.workers)
    from grokking_workbench.numerics.threads import available_cores

    workers = available_cores() if args.workers is None else args.workers
    out = args.out
    if args.resume and cfg.method != "iterate":
        raise InputError("resume", "only the iterate method resumes (a march is one sweep)")
    if args.resume and args.overwrite:
        raise InputError("resume", "--resume continues the file in --out; it cannot be combined with --overwrite")
    stored = io.check_output(out, cfg, overwrite=args.overwrite)
    start = residuals = None
    command = args.command_line
    if args.resume:
        if stored is not None and stored.get("status") == "complete":
            print(f"{out} is complete: nothing to resume")
            return 0
        start, residuals = _saved_state(cfg, out, stored)
        command = io.resumed_history(stored, command)
        log.info("resuming after %d iterations", len(residuals))

    def write(sol):
        ds = solver.to_dataset(sol, None if cfg.method == "iterate" else args.two_time_points)
        io.write_dataset(ds, out, cfg, title=_title(cfg), command=command, status=sol.status,
                         overwrite=args.overwrite)
        return ds

    # divergence is detected and reported (status, exit code): no raw floating-point warnings
    with np.errstate(all="ignore"), interrupt.polling():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                sol = solver.solve(cfg, checkpoint=write, start=start, start_residuals=residuals,
                                   two_time_points=None if cfg.method == "iterate" else args.two_time_points,
                                   workers=workers)
            except sweep.CovarianceError as exc:
                print(f"grokking dmft: {exc}", file=sys.stderr)
                return EXIT_DIVERGED
            if sol.result is None:
                print(f"interrupted: {sol.status}; nothing new to save"
                      + (f" ({out} keeps the earlier state)" if stored else ""))
                return EXIT_INTERRUPTED
            ds = write(sol)
    line = (f"wrote {out}: {sol.status}; {sol.map_evaluations} map evaluation(s), {sol.seconds:.1f} s; "
            f"{summary(ds)}")
    if sol.status.startswith("interrupted"):
        print(f"interrupted: {line}")
        return EXIT_INTERRUPTED
    print(line)
    return 0 if sol.status.startswith("complete") else EXIT_DIVERGED
