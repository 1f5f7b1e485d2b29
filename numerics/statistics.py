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
