"""Criteria shared by the claims about learning curves of the wide network and its variants.

Criteria (the rules of numerics.statistics; "datasets" are the seeds, which every run of one
experiment shares, so differences between runs are paired):
- "groks" (the definition used for every network of this project): in every dataset the test
  loss reaches grok_fraction of its initial value within t_max and t_test >= 2 t_train;
  "grokking vanishes": t_test <= 1.5 t_train in every dataset; inconclusive when a dataset's test
  loss never gets there (unless the statement is that it fails).
- "Q rises / falls with x": numerics.statistics.monotone (permutation trend test over datasets
  and no consecutive pair reversed beyond the Bonferroni limit), never-reached times infinite.
- "A exceeds B": the paired difference over datasets beyond bonferroni_z(m), m the statements'
  comparisons of that kind in the experiment; the opposite beyond the limit is "not reproduced".
- agreement of the eq. (6) terms with the held-out loss: numerics.statistics.agreement over
  every run, dataset and record, family-wise 5 % (Bonferroni).
"""

from __future__ import annotations

import numpy as np

from grokking_workbench.numerics import statistics as st


def ratio(ds):
    return ds.t_test_fall / ds.t_train_fall


def groks(d, label: str) -> tuple[str, str, str]:
    r = ratio(d).values.ravel()
    reached = np.isfinite(r)
    ok = bool(reached.all() and np.all(r >= 2))
    bad = bool(np.any(reached & (r < 2)))
    return (f"the network groks{label}", st.verdict(ok, bad),
            f"t_test / t_train per dataset {np.round(r, 2).tolist()} (NaN: test loss never fell to "
            f"{d.attrs.get('grok_fraction', 0.25):g} of its initial value)")


def exceeds(a, b, m: int = 1) -> tuple[str, float, float]:
    """Verdict on mean(a) > mean(b) over paired datasets, and the difference with its SE."""
    d, se = st.paired_difference(np.asarray(b, float), np.asarray(a, float))
    z = st.bonferroni_z(m)
    return st.verdict(bool(d > z * se), bool(d < -z * se)), float(d), float(se)


def mono(x, da, dim, increasing, label, what):
    vals = [np.where(np.isnan(v), np.inf, v) for v in (da.sel({dim: xv}).values.ravel() for xv in x)]
    res = st.monotone(x, vals, increasing=increasing, paired=True)
    means = da.mean("seed", skipna=False).values
    return (label, res["verdict"], f"{what} by {dim} = " + ", ".join(f"{xv:g}: {m:.3g}" for xv, m in zip(x, means))
            + "; " + st.describe_monotone(res, x))


def decomposition(ds) -> tuple[str, str, str]:
    total = ds.variance_error + ds.misalignment_error + ds.linear_power
    a = st.agreement(ds.held_out_loss.values, ds.held_out_loss_se.values, total.values)
    return ("eq. (6): variance + misalignment + power in linear modes = test loss (held-out points)",
            st.verdict(a["agree"], a["n"] > 0 and not a["agree"]),
            f"max |z| {a['worst']:.2f}, {a['outside']} of {a['n']} beyond the Bonferroni limit {a['limit']:.2f}")


def rise_fall(curves, t, label, m: int = 2) -> tuple[str, str, str]:
    """The mean curve peaks inside the run: its peak exceeds the first and the last value
    (paired over datasets, Bonferroni over the two comparisons)."""
    c = np.asarray(curves, float)                     # (seed, t)
    k = int(np.argmax(c.mean(0)))
    v1, d1, s1 = exceeds(c[:, k], c[:, 0], m)
    v2, d2, s2 = exceeds(c[:, k], c[:, -1], m)
    ok, bad = v1 == v2 == st.REPRODUCED, st.NOT_REPRODUCED in (v1, v2)
    return (label, st.verdict(ok, bad), f"peak {c.mean(0)[k]:.3g} at t = {t[k]:.3g}: above start by {d1:.3g} +- {s1:.2g}, "
            f"above end by {d2:.3g} +- {s2:.2g}")


