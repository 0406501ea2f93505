"""Summaries of a model's fairness on held-out data."""

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from .metrics import (
    average_odds_difference,
    equal_opportunity_difference,
    phi_score,
    statistical_parity_difference,
)

__all__ = ["fairness_summary", "summary_table"]


def fairness_summary(y_true, y_pred, sensitive, *, bias_metric="spd", epsilon=0.05):
    """Balanced accuracy, the three bias measures and Φ of one set of predictions.

    Parameters
    ----------
    y_true, y_pred, sensitive : array-like of shape (n,)
        Labels, predictions and protected attribute, coded 0/1.
    bias_metric : {"spd", "eod", "aod"}, default="spd"
        The measure Φ holds to ``epsilon``.
    epsilon : float, default=0.05

    Returns
    -------
    dict
        ``balanced_accuracy``, ``spd``, ``eod``, ``aod`` and ``phi``.
    """
    y_true, y_pred, sensitive = (np.asarray(a) for a in (y_true, y_pred, sensitive))
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "spd": statistical_parity_difference(y_true, y_pred, sensitive=sensitive),
        "eod": equal_opportunity_difference(y_true, y_pred, sensitive=sensitive),
        "aod": average_odds_difference(y_true, y_pred, sensitive=sensitive),
        "phi": phi_score(y_true, y_pred, sensitive=sensitive, bias_metric=bias_metric, epsilon=epsilon),
    }


def summary_table(rows):
    """A table with one row per model, from ``{model name: summary dict}``.

    Parameters
    ----------
    rows : dict of str to dict
        Each value as returned by :func:`fairness_summary`, possibly with more
        entries (a pruning rate, a time).

    Returns
    -------
    pandas.DataFrame
    """
    return pd.DataFrame.from_dict(rows, orient="index")
