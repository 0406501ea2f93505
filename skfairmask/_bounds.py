"""Confidence bounds on proportions and on linear combinations of independent proportions.

Every bias measure here is a signed combination of group rates computed on
disjoint rows (a group's rows against another's; a group's positives against
its negatives), so its bounds follow from those of the rates. Each rate gets
the exact (Clopper–Pearson) interval, which never covers less than stated,
however few the rows or however close the rate is to 0 or 1; the rates'
intervals are combined with the MOVER rule (method of variance estimates
recovery; Zou and Donner 2008), whose two-rate case is Newcombe's interval
for a difference. On a population with known rates (``tests/test_objective.py``)
this covered the true bias in 95.4–95.7% of samples at 95%, where Wilson's
intervals in its place covered 94.5–94.7%.

All functions are vectorised: counts may carry any leading axes.

:func:`band_half_width` is of another kind: a band around a whole empirical
distribution function, which holds at every threshold at once. It bounds the
rates of every threshold rule on one score together, however the threshold
was chosen.
"""

import numpy as np
from scipy.special import betaincinv

__all__ = ["band_half_width", "combine_intervals", "exact_interval"]


def exact_interval(successes, trials, tail):
    """Clopper–Pearson bounds for ``successes / trials``, each missing with chance at most ``tail``.

    Parameters
    ----------
    successes, trials : array-like
        Counts of the same shape; ``trials`` may be 0.
    tail : float
        The one-sided error of each bound (0.05 for a one-sided 95% bound).
        ``None`` returns the estimate as both bounds.

    Returns
    -------
    estimate, lower, upper : ndarray
        The proportion (NaN where ``trials`` is 0) and its bounds; where
        ``trials`` is 0 the bounds are the uninformative 0 and 1.
    """
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    empty = trials <= 0
    n = np.where(empty, 1.0, trials)
    x = np.clip(successes, 0.0, n)
    p = x / n
    if tail is None:
        return np.where(empty, np.nan, p), np.where(empty, 0.0, p), np.where(empty, 1.0, p)
    with np.errstate(invalid="ignore"):
        lower = np.where(x <= 0, 0.0, betaincinv(np.maximum(x, 1e-12), n - x + 1, tail))
        upper = np.where(x >= n, 1.0, betaincinv(x + 1, np.maximum(n - x, 1e-12), 1 - tail))
    return np.where(empty, np.nan, p), np.where(empty, 0.0, lower), np.where(empty, 1.0, upper)


def combine_intervals(estimates, lowers, uppers, weights):
    """MOVER bounds of ``Σ weights[i] · p_i`` for independent proportions ``p_i``.

    Parameters
    ----------
    estimates, lowers, uppers : sequence of ndarray
        Each proportion's estimate and bounds (from :func:`exact_interval`),
        all of one shape. A NaN estimate (no rows) counts as 0.5 for the
        bounds, which its uninformative interval then makes wide.
    weights : sequence of float

    Returns
    -------
    estimate, lower, upper : ndarray
        The combination (NaN if any proportion is) and its bounds.
    """
    estimate = sum(w * p for w, p in zip(weights, estimates))
    below, above, centre = 0.0, 0.0, 0.0
    for w, p, lo, up in zip(weights, estimates, lowers, uppers):
        p = np.where(np.isnan(p), 0.5, p)
        low_end, high_end = np.minimum(w * lo, w * up), np.maximum(w * lo, w * up)
        below = below + (w * p - low_end) ** 2
        above = above + (high_end - w * p) ** 2
        centre = centre + w * p
    return estimate, centre - np.sqrt(below), centre + np.sqrt(above)


def band_half_width(n, error):
    """Half-width of a band that holds for a whole empirical distribution function at once.

    The Dvoretzky–Kiefer–Wolfowitz inequality with Massart's constant: on
    ``n`` independent draws of any real variable, the largest distance
    between the empirical and the true distribution functions, over every
    threshold, exceeds ``sqrt(log(2 / error) / (2 n))`` with chance at most
    ``error``. It holds for any ``n``, with no approximation.

    Parameters
    ----------
    n : array-like
        Draws (rows); 0 gives an infinite width.
    error : float
        The chance that the band misses anywhere.

    Returns
    -------
    ndarray
    """
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(n > 0, np.sqrt(np.log(2 / error) / (2 * np.maximum(n, 1))), np.inf)
