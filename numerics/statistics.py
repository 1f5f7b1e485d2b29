"""Statistics over independent datasets: each rule written once, with its justification.

- :func:`mean_se`: mean and standard error over independent datasets (ddof = 1: the unbiased
  variance, since the population variance is unknown).
- :func:`bonferroni_z`: the two-sided z limit that keeps the family-wise error of ``m`` compared
  points at ``alpha`` (Bonferroni: valid under any dependence between the points, conservative
  when they are positively correlated, as points of one learning curve are).
- :func:`weighted_line`: least squares of y = a + b x with known standard errors of y (inverse
  variance weights; the parameter covariance is (X^T W X)^-1, and chi^2 with n - 2 degrees of
  freedom tells whether the line describes the data within their errors).
- :func:`bootstrap_slope`: the slope of log y against log x (a power law) with a percentile
  bootstrap interval over datasets, for spreads whose sampling law is far from normal.
- :func:`wilson_interval`: a binomial proportion's interval (Wilson score: correct coverage for
  small counts, unlike the normal approximation).
- :func:`paired_difference`: mean and standard error of b - a over datasets that share their
  seed (training set and initialisation), which removes the variance the two share.
- :func:`agreement`: theory against simulation point by point, z = (simulation - theory) /
  sqrt(SE_sim^2 + SE_theory^2), with the theory's own error (Monte Carlo, discretisation) in the
  denominator, and the Bonferroni limit of :func:`bonferroni_z` over all compared points, so that
  the chance of a false disagreement anywhere is at most ``family_error``.
- :func:`trend_test`: Spearman's rank correlation of y with x and its permutation p-value (exact
  enumeration for n <= 8, otherwise 20,000 random permutations; one-sided in the claimed
  direction). Ranks make it insensitive to the scale of the quantity, and treat "never within
  the run" (infinite) as larger than every finite value; the permutation null needs only that the
  datasets are exchangeable, not normal.
- :func:`monotone`: the rule for "Q rises (or falls) with x": the trend test in the claimed
  direction at ``family_error`` and no consecutive pair of levels reversed by more than the
  Bonferroni limit over the pairs (paired differences when the levels share their datasets).
- :func:`crossing_bootstrap`: the first time the mean curve over datasets crosses a level, with a
  percentile bootstrap interval over datasets (the crossing time is a non-linear statistic of
  the curves, so its sampling law is not normal).
- :func:`verdict`: the three verdicts (``reproduced``, ``not reproduced``, ``inconclusive``).

A statement is reproduced only when the test of the statement itself passes; a test that noise
alone could pass (a sign, a difference without its error) is never a verdict.
"""

from __future__ import annotations

import math

import numpy as np

FAMILY_ERROR = 0.05


def mean_se(values, axis: int = 0):
    """(mean, standard error) over ``axis`` (ddof = 1), NaN-free input assumed."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    if n < 2:
        raise ValueError(f"a standard error needs at least 2 datasets, got {n}")
    return values.mean(axis), values.std(axis, ddof=1) / math.sqrt(n)


def bonferroni_z(points: int, family_error: float = FAMILY_ERROR) -> float:
    """Two-sided z limit for a family-wise error ``family_error`` over ``points`` comparisons."""
    from scipy.stats import norm

    return float(norm.isf(family_error / (2 * max(int(points), 1))))


def weighted_line(x, y, se) -> dict:
    """Fit y = a + b x with standard errors ``se`` of y: a, b, their SEs and covariance, chi^2 and
    its p-value (n - 2 degrees of freedom; NaN when n = 2)."""
    from scipy.stats import chi2

    x, y, se = (np.asarray(v, dtype=float) for v in (x, y, se))
    X = np.stack([np.ones_like(x), x], axis=1)
    w = 1.0 / se ** 2
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    a, b = cov @ (X.T @ (w * y))
    resid = (y - a - b * x) / se
    dof = len(x) - 2
    c2 = float(resid @ resid)
    return {"a": float(a), "b": float(b), "a_se": float(math.sqrt(cov[0, 0])),
            "b_se": float(math.sqrt(cov[1, 1])), "cov_ab": float(cov[0, 1]), "chi2": c2, "dof": dof,
            "p": float(chi2.sf(c2, dof)) if dof > 0 else math.nan}


def bootstrap_slope(x, samples: list, statistic, *, n_boot: int = 2000, seed: int = 0,
                    level: float = 0.95) -> dict:
    """Slope of log(statistic(sample)) against log(x) and its percentile bootstrap interval.

    ``samples[k]`` holds the independent datasets at ``x[k]``; each bootstrap replicate resamples
    every ``samples[k]`` with replacement. Replicates where the statistic is not positive are
    dropped (their fraction is returned).
    """
    rng = np.random.default_rng(seed)
    lx = np.log(np.asarray(x, dtype=float))

    def slope(stats):
        return float(np.polyfit(lx, np.log(stats), 1)[0])

    point = np.array([statistic(np.asarray(s)) for s in samples])
    reps, dropped = [], 0
    for _ in range(n_boot):
        stats = np.array([statistic(rng.choice(np.asarray(s), size=len(s))) for s in samples])
        if np.all(stats > 0) and np.all(np.isfinite(stats)):
            reps.append(slope(stats))
        else:
            dropped += 1
    lo, hi = (np.quantile(reps, [(1 - level) / 2, (1 + level) / 2]) if reps else (math.nan, math.nan))
    return {"slope": slope(point) if np.all(point > 0) else math.nan, "low": float(lo), "high": float(hi),
            "dropped": dropped / n_boot, "statistic": point}


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    from scipy.stats import norm

    if n == 0:
        return math.nan, math.nan
    z = float(norm.isf((1 - level) / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def median_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(median, low, high): the sample median and the distribution-free order-statistic interval
    ``[x_(j), x_(n+1-j)]`` that covers the population median with probability >= ``level``
    (j the largest index with P(Binomial(n, 1/2) < j) <= (1 - level) / 2). Infinite values (runs
    that never reached a threshold: censored above) are ordered last and allowed; NaN are dropped.
    With too few values for the level (n <= 5 at 95 %) the interval is (-inf, inf)."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, float).ravel())
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return math.nan, -math.inf, math.inf
    median = float(x[(n - 1) // 2]) if n % 2 else float(0.5 * (x[n // 2 - 1] + x[n // 2])) \
        if np.isfinite(x[n // 2]) else math.inf
    j = int(binom.ppf((1 - level) / 2, n, 0.5))     # P(B <= j - 1) <= (1 - level) / 2 < P(B <= j)
    if binom.cdf(j, n, 0.5) <= (1 - level) / 2:
        j += 1
    if j < 1:
        return median, -math.inf, math.inf
    return median, float(x[j - 1]), float(x[n - j])


REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)


def verdict(ok: bool, contradicted: bool) -> str:
    """``reproduced`` when the evidence supports the statement, ``not reproduced`` when it
    contradicts it, ``inconclusive`` when it does neither (or both, which a sound test cannot
    produce and is not read as support)."""
    if ok and not contradicted:
        return REPRODUCED
    return NOT_REPRODUCED if contradicted else INCONCLUSIVE


def paired_difference(a, b, axis: int = 0):
    """(mean, standard error) of ``b - a`` over paired datasets along ``axis`` (ddof = 1)."""
    return mean_se(np.asarray(b, dtype=float) - np.asarray(a, dtype=float), axis=axis)


def agreement(sim_mean, sim_se, theory, theory_se=0.0, *, family_error: float = FAMILY_ERROR,
              points: int | None = None) -> dict:
    """Point-by-point agreement of a simulation mean with a theory.

    Non-finite z-scores (missing points) are left out. Returns ``z`` (array), ``worst`` (largest
    |z|), ``limit`` (Bonferroni over ``points`` comparisons, by default the finite z-scores),
    ``outside`` (how many exceed it), ``n`` and ``agree`` (none outside, and at least one point).
    """
    sim_mean, sim_se, theory, theory_se = (np.asarray(v, dtype=float) for v in
                                           (sim_mean, sim_se, theory, theory_se))
    err = np.sqrt(sim_se ** 2 + theory_se ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (sim_mean - theory) / err
    finite = z[np.isfinite(z)]
    n = int(finite.size)
    limit = bonferroni_z(points if points is not None else n, family_error)
    outside = int(np.sum(np.abs(finite) >= limit))
    return {"z": z, "worst": float(np.max(np.abs(finite))) if n else math.nan, "limit": limit,
            "outside": outside, "n": n, "agree": bool(n and outside == 0)}


def _ranks(v):
    from scipy.stats import rankdata

    return rankdata(v)


def trend_test(x, y, *, increasing: bool = True, n_perm: int = 20000, seed: int = 0) -> dict:
    """Spearman's rho of ``y`` against ``x`` with a one-sided permutation p-value.

    ``y`` may hold +inf ("never within the run"); NaN points are dropped. ``p`` is the chance
    under exchangeability of a rho at least as extreme in the claimed direction (``increasing``);
    ``p_opposite`` the same in the other direction; ``p_two_sided`` = min(1, 2 min(p, p_opposite))
    for statements that claim a trend without its direction. Exact for n <= 8 (all n! orderings),
    otherwise from ``n_perm`` random permutations with the (count + 1) / (n_perm + 1) estimate.
    """
    import itertools

    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = len(x)
    if n < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return {"rho": math.nan, "p": 1.0, "p_opposite": 1.0, "p_two_sided": 1.0, "n": n}
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = math.sqrt(float(rx @ rx) * float(ry @ ry))
    rho = float(rx @ ry) / norm
    if math.factorial(n) <= 40320:
        perms = np.array(list(itertools.permutations(range(n))))
        null = (ry[perms] @ rx) / norm
        ge, le = np.mean(null >= rho - 1e-12), np.mean(null <= rho + 1e-12)
    else:
        rng = np.random.default_rng(seed)
        null = np.array([float(rx @ ry[rng.permutation(n)]) for _ in range(n_perm)]) / norm
        ge = (np.sum(null >= rho - 1e-12) + 1) / (n_perm + 1)
        le = (np.sum(null <= rho + 1e-12) + 1) / (n_perm + 1)
    p, q = (ge, le) if increasing else (le, ge)
    return {"rho": rho, "p": float(p), "p_opposite": float(q), "p_two_sided": float(min(1.0, 2 * min(p, q))),
            "n": n}


def monotone(x, values, *, increasing: bool = True, paired: bool = False,
             family_error: float = FAMILY_ERROR) -> dict:
    """Does the quantity rise (``increasing``) or fall with ``x``?

    ``values[k]`` holds the independent datasets at ``x[k]`` (+inf for "never within the run").
    Reproduced (``verdict``) when the trend test over all datasets has p < ``family_error`` in the
    claimed direction and no consecutive pair of levels is reversed beyond the Bonferroni limit
    over the pairs; not reproduced when the trend is significant the other way or a pair is
    reversed; inconclusive otherwise. Pairs use the paired difference when ``paired`` (same
    datasets at every level), otherwise the two means' errors in quadrature; pairs with fewer
    than two finite datasets each are not compared.
    """
    x = np.asarray(x, dtype=float)
    vals = [np.asarray(v, dtype=float).ravel() for v in values]
    xs = np.concatenate([np.full(len(v), xv) for xv, v in zip(x, vals)])
    trend = trend_test(xs, np.concatenate(vals), increasing=increasing)
    sign = 1.0 if increasing else -1.0
    limit = bonferroni_z(len(vals) - 1, family_error)
    reversed_pairs, steps = [], []
    for k in range(len(vals) - 1):
        a, b = vals[k], vals[k + 1]
        if paired and len(a) == len(b):
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() < 2:
                steps.append(math.nan)
                continue
            d, se = paired_difference(a[ok], b[ok])
        else:
            fa, fb = a[np.isfinite(a)], b[np.isfinite(b)]
            if len(fa) < 2 or len(fb) < 2:
                steps.append(math.nan)
                continue
            (ma, sa), (mb, sb) = mean_se(fa), mean_se(fb)
            d, se = mb - ma, math.hypot(sa, sb)
        z = sign * d / se if se > 0 else (math.inf if sign * d > 0 else -math.inf if sign * d < 0 else 0.0)
        steps.append(float(z))
        if z <= -limit:
            reversed_pairs.append(k)
    ok = trend["p"] < family_error and not reversed_pairs
    bad = trend["p_opposite"] < family_error or bool(reversed_pairs)
    return {"verdict": verdict(ok, bad), "rho": trend["rho"], "p": trend["p"], "n": trend["n"],
            "step_z": steps, "limit": limit, "reversed": reversed_pairs}


def describe_monotone(result: dict, x=None) -> str:
    """One line of evidence for :func:`monotone`."""
    text = f"Spearman rho {result['rho']:+.2f}, permutation p = {result['p']:.2g} (n = {result['n']})"
    if result["reversed"]:
        pairs = [f"{x[k]:g}->{x[k + 1]:g}" if x is not None else str(k) for k in result["reversed"]]
        text += f"; reversed beyond |z| {result['limit']:.2f}: {', '.join(pairs)}"
    return text


def crossing_time(t, values, level: float) -> float:
    """First time ``values`` falls to ``level``, linearly interpolated between records (NaN if it
    never does): the crossing-time rule of every experiment."""
    below = np.nonzero(np.asarray(values) <= level)[0]
    if below.size == 0:
        return math.nan
    i = below[0]
    if i == 0:
        return float(t[0])
    f = (values[i - 1] - level) / (values[i - 1] - values[i])
    return float(t[i - 1] + f * (t[i] - t[i - 1]))


def on_times(times, t, values) -> np.ndarray:
    """``values`` recorded at ``t``, linearly interpolated at ``times``, NaN past the last record:
    how the experiments put curves from different grids on one time axis."""
    times = np.asarray(times, dtype=float)
    return np.where(times <= t[-1] * (1 + 1e-12), np.interp(times, t, values), np.nan)


def crossing_bootstrap(t, curves, level, *, n_boot: int = 2000, seed: int = 0,
                       level_is_fraction: bool = False, percent: float = 0.95) -> dict:
    """First time the mean over datasets of ``curves`` (datasets, t) falls to ``level`` (linear
    interpolation; NaN if never), and its percentile bootstrap interval over datasets.

    With ``level_is_fraction`` the level is that fraction of the mean curve's value at t[0].
    Replicates that never cross count as +inf, so an upper end of inf means "may never cross".
    """
    t = np.asarray(t, dtype=float)
    curves = np.asarray(curves, dtype=float)

    def cross(mean):
        c = crossing_time(t, mean, level * mean[0] if level_is_fraction else level)
        return math.inf if math.isnan(c) else c

    rng = np.random.default_rng(seed)
    n = curves.shape[0]
    point = cross(curves.mean(0))
    reps = np.array([cross(curves[rng.integers(0, n, n)].mean(0)) for _ in range(n_boot)])
    lo, hi = np.quantile(reps, [(1 - percent) / 2, (1 + percent) / 2], method="inverted_cdf")
    return {"time": point if np.isfinite(point) else math.nan, "low": float(lo), "high": float(hi)}
