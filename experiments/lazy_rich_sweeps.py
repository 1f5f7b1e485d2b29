"""Learning curves of the wide network across one knob at a time (Kumar et al. 2024, Figs. 3, 4,
7a, 9-11, 13a-15), each with the linearised network and kernel regression beside it
(``experiments._wide_curves``; time to grok as defined there).

- ``alpha-sweep`` (Fig. 3a, 7a): laziness alpha, batched. Larger alpha delays feature learning,
  ends at a higher test loss, and approaches the linearised network: the largest deviation of the
  held-out loss from the linearisation shrinks as alpha grows (as 1/alpha for alpha -> infinity).
- ``eps-sweep`` (Fig. 3b): alignment eps, batched. Smaller eps delays the fall of the test loss;
  eps sets how far the linearised solution gets (kernel regression's test loss falls with eps).
- ``loss-decomposition`` (Fig. 4 right): the three terms of eq. (6) during training; their sum (the
  exact population loss) matches the loss measured on held-out points within sampling error; the
  power in linear modes rises and falls, the misalignment error falls late.
- ``goldilocks`` (Fig. 9): training set sizes P; too little data fails (power left in linear
  modes), an intermediate P groks, a large P generalises without delay.
- ``aligned-init`` (Fig. 10): a fraction of the analytic solution added to the initial weights;
  the rise of the test loss above its initial value shrinks with it and vanishes.
- ``readouts`` (Fig. 11, eqs. 21-23): fixed against trained readouts; eq. (6) with the
  readout-weighted wbar and M still sums to the test loss, and both grok.
- ``momentum`` (Fig. 13a): heavy-ball momentum 0.95 against plain gradient descent; both grok.
- ``hermite`` (Fig. 15): targets He_k(beta . x) / 2 with phi(z) = z + (eps/2) He_k(z), k = 3
  (quick) and 3, 4 (full). Euler steps must be small (dt = 0.025, 0.005 for k = 4: phi' grows
  like h^(k-1)). He_3 is learned with a short delay at D = 20, P = 400 (at P = 200 one seed in
  four stays on the plateau); He_4 was not learned within t = 200 at P up to 3000 (eps = 0.05),
  so the full configuration may not confirm it.
- ``multi-index`` (Fig. 14): sums of r = 1, 2, 3 quadratic indices.

Statements (each quotes the figure it tests; written 2026-11-30, after the full results of
alpha-sweep, eps-sweep, loss-decomposition, goldilocks, aligned-init, readouts, momentum and
multi-index were committed: ``experiments.criteria`` records the change and the old verdicts).
The rules "groks", "grokking vanishes", "rises / falls with", "exceeds" and the eq. (6) agreement
are those of ``experiments._claims``. Specific criteria:

- alpha-sweep: time to grok rises with alpha; at the smallest alpha grokking vanishes; the final
  test loss rises with alpha (Fig. 7a; the caption of Fig. 3a says "decreases", against its own
  reason); the largest deviation from the linearisation falls with alpha.
- eps-sweep: time to grok falls with eps; kernel regression's test loss falls with eps; the final
  test loss rises with eps ("lower alignment can result in better generalization").
- loss-decomposition: eq. (6) agreement; the linear power's mean peak exceeds its first and last
  values; the misalignment error at the end is below its value at that peak.
- goldilocks: smallest P: final test loss above half its initial value and the linear power at
  least a third of the final eq. (6) loss (mean share minus the Bonferroni limit (m = 3) times its
  SE); middle P: groks and the linear power rises and falls; largest P: t_test <= 1.5 t_train in
  every dataset and final linear power below 1 % of the initial test loss.
- aligned-init: with a fraction <= ``SMALL_ALIGNED`` = 0.1 of the solution the rise of the test
  loss above its initial value falls below 10 % of its value without it (upper end mean +
  z SE, z Bonferroni over the small fractions); not reproduced when every small fraction keeps it
  above (lower end); the rise falls and the initial NTK alignment rises with the fraction.
- readouts: eq. (6) agreement; the network with trained readouts groks and its linear power rises
  and falls.
- momentum: the network with momentum groks; the test loss has more bumps (rises by more than
  ``BUMP`` = 1 % of its initial value after a running minimum) than with plain gradient descent
  (paired difference of the counts; inconclusive when equal in every dataset).
- hermite, multi-index: the network groks at every k or number of indices.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grokking_workbench.experiments._wide_curves import CURVES_SCHEMA, Curves, plot_curves, run_curves
from grokking_workbench.experiments.registry import register
from grokking_workbench.experiments._claims import (decomposition as _decomposition, exceeds as _exceeds,
                                                     groks as _groks, mono as _mono, ratio as _ratio,
                                                     rise_fall as _rise_fall)
from grokking_workbench.numerics import statistics as st
from grokking_workbench.numerics.simulate.wide import WideConfig

#: the paper's network (N = 500, D = 100, P = 550) and a small one for quick runs
QUICK = WideConfig(N=100, D=50, P=275, alpha=1.0, eps=0.05, t_max=1000.0, dt=0.5, seeds=3,
                   records=50, held_out=2000)
FULL = WideConfig(N=500, D=100, P=550, alpha=1.0, eps=0.05, t_max=4000.0, dt=0.5, seeds=6,
                  records=100, held_out=4000)


def _curves(net: WideConfig, vary: str = "", values: tuple = (), **net_changes) -> Curves:
    return Curves(dataclasses.replace(net, **net_changes), vary=vary, values=tuple(values))


def _lazy_gap(ds):
    """Largest |held-out loss - linearised held-out loss| over time, per run (mean over seeds)."""
    return abs(ds.held_out_loss - ds.lazy_test_loss).max("t").mean("seed")


# ------------------------------------------------------------------------------------ statements
# Criteria: experiments._claims (groks, rises / falls, exceeds, eq. (6) agreement, rises then falls).
def statements_alpha(ds):
    x = ds.alpha.values
    out = [_mono(x, ds.time_to_grok, "alpha", True, "Fig. 3a: \"the laziness parameter alpha controls the "
                 "timescale of the delay in grokking\" (time to grok rises with alpha)", "mean time to grok")]
    r0 = _ratio(ds.isel(alpha=0)).values
    out.append((f"Fig. 3a: \"At small alpha, the grokking effect disappears\" (alpha = {x[0]:g}: t_test <= 1.5 t_train)",
                st.verdict(bool(np.all(r0 <= 1.5)), bool(np.any(r0 > 1.5))),
                f"t_test / t_train {np.round(r0, 2).tolist()}"))
    out.append(_mono(x, ds.test_loss.isel(t=-1), "alpha", True, "Fig. 7a: \"small alpha networks [...] also achieve "
                     "good test loss\" (final test loss rises with alpha)", "final test loss"))
    out.append(_mono(x, abs(ds.held_out_loss - ds.lazy_test_loss).max("t"), "alpha", False,
                     "Fig. 3a: \"At large alpha, the model approaches a linearized model\" (largest |held-out loss - "
                     "linearised| falls with alpha)", "deviation from the linearisation"))
    return out


def observations_alpha(ds):
    gap = _lazy_gap(ds)
    top = ds.alpha.values[-2:]
    ratio = float(gap.sel(alpha=top[0]) / gap.sel(alpha=top[1]))
    return [f"deviation from the linearisation shrinks by {ratio:.3g} from alpha = {top[0]:g} to {top[1]:g} "
            f"(1/alpha: {top[1] / top[0]:g})",
            "the caption of Fig. 3a says \"The final test loss decreases with alpha\"; Fig. 7a and the caption's "
            "own reason (\"as we allow the network to learn more features\") say it rises; the statement tests the latter"]


def statements_eps(ds):
    x = ds.eps.values
    return [_mono(x, ds.time_to_grok, "eps", False, "Fig. 3b, e: \"lazy, misaligned networks grok the most "
                  "intensely\" (time to grok falls with eps)", "mean time to grok"),
            _mono(x, ds.kernel_test_loss, "eps", False, "Fig. 3b: \"The task alignment to the initial kernel, measured "
                  "by eps, determines how much the loss falls when the network initially uses its linearized "
                  "solution\" (kernel regression's test loss falls with eps)", "kernel regression test loss"),
            _mono(x, ds.test_loss.isel(t=-1), "eps", True, "Fig. 3b: \"Smaller eps increases the amount of feature "
                  "learning [...] Thus lower alignment can result in better generalization\" (final test loss rises "
                  "with eps)", "final test loss")]


def observations_eps(ds):
    return [f"groks at eps = {e:g}: {_groks(ds.sel(eps=e), '')[1]}" for e in ds.eps.values]


def statements_decomposition(ds):
    t = ds.t.values
    mis = ds.misalignment_error.values
    k = int(np.argmax(ds.linear_power.mean("seed").values))
    v, d, se = _exceeds(mis[:, k], mis[:, -1])
    return [_decomposition(ds),
            _rise_fall(ds.linear_power.values, t, "Fig. 4 right: \"the initial rise in test loss comes from the network "
                       "putting power in the linear component\", which later vanishes (power in linear modes rises, "
                       "then falls)"),
            ("Fig. 4 right: \"before beginning to align with the task features [...] resulting in a delayed fall in "
             "the test loss\" (misalignment error falls after the peak of the linear power)", v,
             f"misalignment error at t = {t[k]:.3g}: {mis[:, k].mean():.3g}, at the end {mis[:, -1].mean():.3g} "
             f"(fall {d:.3g} +- {se:.2g})")]


def statements_goldilocks(ds):
    P = ds.P.values
    small, mid, large = P[0], P[len(P) // 2], P[-1]
    t = ds.t.values
    d = ds.sel(P=small).isel(t=-1)
    init = ds.sel(P=small).test_loss.isel(t=0).values
    v_fail, dd, se = _exceeds(d.test_loss.values, 0.5 * init, 3)
    terms = {n: d[n].values for n in ("variance_error", "misalignment_error", "linear_power")}
    share = terms["linear_power"] / sum(terms.values())
    m, se = st.mean_se(share)
    z = st.bonferroni_z(3)
    out = [(f"Fig. 9a, d: P = {small}: \"failure to generalize (a) comes from power in linear modes\" (final test "
            "loss above half its initial value, and power in linear modes at least a third of the final eq. (6) loss)",
            st.verdict(v_fail == st.REPRODUCED and m - z * se > 1 / 3,
                       v_fail == st.NOT_REPRODUCED or m + z * se < 1 / 3),
            f"final / initial test loss {float((d.test_loss.values / init).mean()):.3g}; linear-power share "
            f"{m:.3g} +- {se:.2g}; final terms: " + ", ".join(f"{n} {v.mean():.3g}" for n, v in terms.items()))]
    g = _groks(ds.sel(P=mid), "")
    rf = _rise_fall(ds.sel(P=mid).linear_power.values, t, "")
    out.append((f"Fig. 9b, e: P = {mid}: \"grokking comes from a rise then fall in power in linear modes\" (groks, "
                "and the linear power rises then falls)",
                st.verdict(g[1] == rf[1] == st.REPRODUCED, st.NOT_REPRODUCED in (g[1], rf[1])), g[2] + "; " + rf[2]))
    r = _ratio(ds.sel(P=large)).values
    lp = ds.sel(P=large).linear_power
    low = float(lp.isel(t=-1).mean()) < 0.01 * float(ds.sel(P=large).test_loss.isel(t=0).mean())
    prompt = bool(np.all(r <= 1.5))
    out.append((f"Fig. 9c, f: P = {large}: \"full generalization comes from low power in linear modes throughout, "
                "and zero at end time\" (no grokking: t_test <= 1.5 t_train; final linear power below 1 % of the "
                "initial test loss)", st.verdict(prompt and low, not prompt or not low),
                f"t_test / t_train {np.round(r, 2).tolist()}; final linear power {float(lp.isel(t=-1).mean()):.3g}, "
                f"peak {float(lp.mean('seed').max()):.3g}"))
    return out


SMALL_ALIGNED = 0.1   # "a small component of the solution": at most this fraction of it


def statements_aligned(ds):
    test = ds.test_loss
    over = (test.max("t") / test.isel(t=0) - 1)             # per dataset
    x = ds.aligned.values
    o0 = over.isel(aligned=0).values
    small = [a for a in x if 0 < a <= SMALL_ALIGNED]
    z = st.bonferroni_z(max(len(small), 1))
    found, vanished, stays = [], False, bool(small)
    for a in small:
        m, se = st.mean_se(over.sel(aligned=a).values)
        found.append(f"{a:g}: {m:.3g} +- {se:.2g}")
        vanished = vanished or bool(m + z * se < 0.1 * o0.mean())
        stays = stays and bool(m - z * se > 0.1 * o0.mean())
    return [(f"Fig. 10: \"Grokking-like increase in test loss vanishes with even a small increase in alignment\" "
             f"(with a fraction <= {SMALL_ALIGNED:g} of the solution the rise falls below 10 % of its value without it)",
             st.verdict(vanished, stays),
             f"rise above the initial test loss: none added {o0.mean():.3g}; " + ", ".join(found)),
            _mono(x, over, "aligned", False, "Fig. 10: the rise of the test loss shrinks as more of the solution is added",
                  "rise above the initial test loss"),
            _mono(x, ds.ntk_alignment.isel(t=0), "aligned", True, "Fig. 10: \"initial NTK alignment controls how much "
                  "test loss suffers\" (initial alignment rises with the added fraction)", "initial NTK alignment")]


def statements_readouts(ds):
    t = ds.t.values
    tr = ds.sel(train_readouts=1)
    return [_decomposition(ds), _groks(tr, " with trained readouts"),
            _rise_fall(tr.linear_power.values, t, "Fig. 11: \"The same mechanism holds as posited\" (with trained "
                       "readouts the power in linear modes rises, then falls)")]


def observations_grokked(ds):
    dim = [d for d in ds.time_to_grok.dims if d != "seed"][0]
    out = [f"time to grok by {dim}: " + ", ".join(f"{v:g}: {m:.3g}" for v, m in
                                                 zip(ds[dim].values, ds.time_to_grok.mean("seed").values))]
    if "linear_power" in ds and "held_out_loss_se" in ds:
        s, v, e = _decomposition(ds)
        out.append(f"{s}: {v} ({e})")
    return out


BUMP = 0.01   # a bump: the test loss rises by more than this fraction of its initial value


def _bumps(curve) -> int:
    """Rises of more than BUMP x the initial value between a running minimum and a later maximum."""
    c = np.asarray(curve, float)
    level, count, low, rising = BUMP * c[0], 0, c[0], False
    for v in c[1:]:
        if not rising and v > low + level:
            count, rising, high = count + 1, True, v
        elif rising and v >= high:
            high = v
        elif rising and v < high - level:
            rising, low = False, v
        if not rising:
            low = min(low, v)
    return count


def statements_momentum(ds):
    mom = ds.momentum.values[-1]
    d = ds.sel(momentum=mom)
    counts = np.array([[_bumps(ds.test_loss.sel(momentum=m, seed=s).values) for s in ds.seed.values]
                       for m in ds.momentum.values])
    v, diff, se = _exceeds(counts[-1], counts[0])
    if np.all(counts[-1] == counts[0]):
        v = st.INCONCLUSIVE
    return [_groks(d, f" with momentum {mom:g} (\"the curves keep the same shape\")"),
            (f"Fig. 13a: momentum {mom:g} gives the test loss more bumps than plain gradient descent", v,
             f"bumps (rises > {BUMP:g} x initial) per dataset: GD {counts[0].tolist()}, momentum {counts[-1].tolist()}; "
             f"difference {diff:.2g} +- {se:.2g}")]


def statements_grokked(ds):
    dim = [d for d in ds.time_to_grok.dims if d != "seed"][0]
    return [_groks(ds.sel({dim: v}), f" for {dim} = {v:g}") for v in ds[dim].values]


# ------------------------------------------------------------------------------------ registry
def _register(name, summary, claim, quick, full, statements, panels=(), observations=None):
    register(name=name, summary=summary, claim=claim, quick=quick, full=full, run=run_curves,
             plot=lambda ds: plot_curves(ds, panels=panels, title=claim), statements=statements,
             observations=observations, schema=CURVES_SCHEMA)


_register("alpha-sweep", "learning curves across laziness alpha",
          "Kumar et al. 2024 Fig. 3a/7a: larger alpha delays the fall of the test loss, ends at a "
          "higher test loss and approaches the linearised network (kernel regression)",
          _curves(QUICK, alpha=(0.5, 1.0, 2.0, 10.0, 100.0), t_max=400.0),
          _curves(FULL, alpha=(0.5, 1.0, 2.0, 4.0, 10.0, 100.0), t_max=2000.0),
          statements_alpha, panels=("param_change",), observations=observations_alpha)
_register("eps-sweep", "learning curves across alignment eps",
          "Kumar et al. 2024 Fig. 3b: smaller eps delays the fall of the test loss; eps sets how "
          "much the loss falls with the linearised solution",
          _curves(QUICK, eps=(0.05, 0.1, 0.2, 0.4), t_max=400.0),
          _curves(FULL, eps=(0.025, 0.05, 0.1, 0.2, 0.4), t_max=2000.0),
          statements_eps, panels=("linear_power",), observations=observations_eps)
_register("loss-decomposition", "the three terms of eq. (6) during grokking",
          "Kumar et al. 2024 eq. (6), Fig. 4 right: variance + misalignment + linear power = test "
          "loss (measured on held-out points); the early rise of the test loss is power in linear modes, which later vanishes "
          "as the misalignment error falls",
          _curves(QUICK), _curves(FULL), statements_decomposition,
          panels=("variance_error", "misalignment_error", "linear_power"))
_register("goldilocks", "too little, enough and plenty of data (P)",
          "Kumar et al. 2024 Fig. 9: small P fails to generalise (power stays in linear modes), "
          "intermediate P groks, large P generalises without delay",
          _curves(QUICK, "P", (50, 120, 500), D=30, t_max=2000.0),
          _curves(FULL, "P", (50, 120, 500), D=30, t_max=4000.0),
          statements_goldilocks, panels=("linear_power", "misalignment_error"))
_register("aligned-init", "adding a fraction of the analytic solution to the initial weights",
          "Kumar et al. 2024 Fig. 10: the grokking-like rise of the test loss vanishes as a small "
          "component of the solution is added to the initialisation (initial alignment rises)",
          _curves(QUICK, aligned=(0.0, 0.1, 0.2, 0.5, 1.0), alignment_points=200),
          _curves(FULL, aligned=(0.0, 0.05, 0.1, 0.2, 0.5, 1.0), alignment_points=400),
          statements_aligned, panels=("ntk_alignment", "linear_power"))
_register("readouts", "fixed against trained readouts",
          "Kumar et al. 2024 Fig. 11, eqs. 21-23: with trained readouts eq. (6) with the "
          "readout-weighted wbar, M still sums to the test loss and the network still groks",
          _curves(QUICK, "train_readouts", (False, True), dt=0.2),
          _curves(FULL, "train_readouts", (False, True), dt=0.2),
          statements_readouts, panels=("linear_power", "mean_readout"),
          observations=observations_grokked)
_register("momentum", "gradient descent with heavy-ball momentum 0.95",
          "Kumar et al. 2024 Fig. 13a: with momentum the curves keep the same shape (linear, then "
          "feature learning), with more bumps",
          _curves(QUICK, "momentum", (0.0, 0.95)), _curves(FULL, "momentum", (0.0, 0.95)),
          statements_momentum, panels=("linear_power",), observations=observations_grokked)
_register("hermite", "Hermite targets He_3, He_4",
          "Kumar et al. 2024 Fig. 15: grokking persists for y = He_k(beta . x) with "
          "phi(z) = z + (eps/2) He_k(z), k = 3 (quick), 3 and 4 (full), with more data",
          _curves(QUICK, "k", (3,), target="hermite", D=20, P=400, alpha=2.0, t_max=300.0,
                  dt=0.025),
          _curves(FULL, "k", (3, 4), target="hermite", D=20, P=400, alpha=2.0, t_max=300.0,
                  dt=0.005),
          statements_grokked, observations=observations_grokked)
_register("multi-index", "targets with 1, 2, 3 quadratic indices",
          "Kumar et al. 2024 Fig. 14: grokking persists when the target spans several directions",
          _curves(QUICK, "indices", (1, 2, 3), target="multi-index"),
          _curves(FULL, "indices", (1, 2, 3), target="multi-index"),
          statements_grokked, panels=("misalignment_error",),
          observations=observations_grokked)
