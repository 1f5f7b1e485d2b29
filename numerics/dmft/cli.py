"""``grokking dmft``: solve the DMFT and write its dataset (see :mod:`numerics.dmft.solver`)."""

from __future__ import annotations

import logging
import sys

import numpy as np

from grokking_workbench.numerics import io
from grokking_workbench.numerics.validate import InputError

log = logging.getLogger(__name__)

EXIT_NOT_CONVERGED = 3
EXIT_INTERRUPTED = 130


def config_from_args(args):
    from grokking_workbench.numerics.dmft.solver import DMFTConfig, check_config
    from grokking_workbench.numerics.ode import parse_matrix, parse_vector
    from grokking_workbench.numerics.validate import positive, positive_int

    N = positive_int("N", args.N)
    A0 = parse_vector("A0", args.A0, N)
    C0 = parse_matrix("C0", args.C0, N)
    gamma = positive("gamma", args.gamma, allow_inf=True)
    cfg = DMFTConfig(A0=tuple(map(float, A0)), C0=tuple(tuple(map(float, r)) for r in C0),
                     alpha=args.alpha, eps=args.eps, gamma=gamma, t_max=args.t_max, dt=args.dt,
                     growth=0.0 if args.uniform else args.growth, h_max=args.h_max, scheme=args.scheme,
                     memory=args.memory, replicas=args.replicas, precision=args.precision,
                     source=args.source or ("cholesky" if args.method == "iterate" else "empirical"), error_estimate=not args.no_error_estimate,
                     samples=args.samples, seed=args.seed, estimator=args.estimator,
                     method=args.method, damping=args.damping, max_iter=args.max_iter,
                     tol=args.tol, anderson=args.anderson)
    return check_config(cfg)


def _title(cfg) -> str:
    return (f"DMFT of the committee machine: N = {cfg.N}, gamma = {cfg.gamma}, alpha = {cfg.alpha}, "
            f"eps = {cfg.eps}")


def main(args) -> int:
    from grokking_workbench.numerics.dmft import solver, sweep

    cfg = config_from_args(args)
    out = args.out
    old = io.stored_config_hash(out)
    if old is not None and old != io.config_hash(cfg) and not args.overwrite:
        raise io.ConfigMismatchError(f"{out} holds a dataset of another configuration "
                                     f"(config_hash {old}); use another --out or --overwrite")
    start = residuals = None
    if args.resume:
        if cfg.method != "iterate":
            raise InputError("resume", "only the iterate method resumes (a march is one sweep)")
        if old is None:
            raise InputError("resume", f"no saved iterate in {out}")
        saved = io.read_dataset(out)
        T1 = cfg.T + 1
        if saved.sizes.get("t") != T1:
            raise InputError("resume", f"the saved solve stopped before t-max ({out})")
        start = sweep.Fields(saved.Cg.values, saved.Rh.values, saved.Rhstar.values)
        residuals = [float(r) for r in saved.residual.values]
        log.info("resuming after %d iterations", len(residuals))

    def write(sol, status):
        ds = solver.to_dataset(sol, None if cfg.method == "iterate" else args.two_time_points)
        io.write_dataset(ds, out, cfg, title=_title(cfg), command=args.command_line, status=status,
                         overwrite=args.overwrite)

    try:
        sol = solver.solve(cfg, checkpoint=lambda s, x: write(s, s.status), start=start,
                           start_residuals=residuals)
    except sweep.CovarianceError as exc:
        print(f"grokking dmft: {exc}", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    write(sol, sol.status)
    ds = io.read_dataset(out)
    print(f"wrote {out}: {sol.status}; {sol.map_evaluations} map evaluation(s), {sol.seconds:.1f} s; "
          f"A(t_max) = {np.round(ds.A.values[-1], 4).tolist()}, train/test loss at t_max "
          f"{float(ds.train_loss[-1]):.4f} / {float(ds.test_loss[-1]):.4f}")
    return 0 if sol.status == "complete" else EXIT_NOT_CONVERGED
